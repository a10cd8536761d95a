"""Serve django-scim2 0.23 (default adapters) on a free loopback port.

Run as ``python -m djscim.serve TOKEN`` with tests/ on the path: the database is an
in-memory SQLite one, the server answers one request at a time (as wsgiref does), a
bearer token stands in for the login django-scim2 leaves to the project, and the
port chosen by the OS is printed on the first line of stdout.
"""

from __future__ import annotations

import sys
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import django
from django.conf import settings

TOKEN = sys.argv[1] if len(sys.argv) > 1 else "token"


class BearerLogin:
    """Logs the request in as the service account when it carries the token."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        from django.contrib.auth.models import AnonymousUser

        if request.META.get("HTTP_AUTHORIZATION") == f"Bearer {TOKEN}":
            request.user = _ServiceAccount()
        else:
            request.user = AnonymousUser()
        return self.get_response(request)


class _ServiceAccount:
    """The caller holding the token: authenticated, and no row in the user table."""

    is_authenticated = True
    is_active = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def main() -> None:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="interop-not-secret",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django_scim",
            "djscim",
        ],
        MIDDLEWARE=[
            f"{__name__}.BearerLogin",
        ],
        AUTH_USER_MODEL="djscim.ScimUser",
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        # Every app's tables made from its models (syncdb): the custom user and group
        # inherit from contrib.auth's, which a migration-less app cannot depend on.
        MIGRATION_MODULES={"auth": None, "contenttypes": None, "django_scim": None},
        USE_TZ=True,
        LOGGING_CONFIG=None,
        SCIM_SERVICE_PROVIDER={
            "NETLOC": "127.0.0.1",
            "SCHEME": "http",
            "GROUP_MODEL": "djscim.models.ScimGroup",
            "AUTHENTICATION_SCHEMES": [
                {"type": "oauthbearertoken", "name": "OAuth Bearer Token",
                 "description": "bearer token", "primary": True},
            ],
        },
    )  # fmt: skip
    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)
    urlpatterns[:] = _urls()
    from django.core.wsgi import get_wsgi_application

    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=_Quiet)
    print(server.server_port, flush=True)
    server.serve_forever()


def _urls() -> list[Any]:
    from django.urls import include, path

    return [path("scim/v2/", include("django_scim.urls", namespace="scim"))]


urlpatterns: list[Any] = []

if __name__ == "__main__":
    main()
