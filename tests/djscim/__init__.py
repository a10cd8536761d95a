"""A minimal Django project serving django-scim2's default adapters (tests only)."""
