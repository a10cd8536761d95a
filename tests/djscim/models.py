"""The user and group models django-scim2's documentation asks a project to define."""

from django.contrib.auth.models import AbstractUser, Group
from django.db import models
from django_scim.models import AbstractSCIMGroupMixin, AbstractSCIMUserMixin


class ScimGroup(AbstractSCIMGroupMixin, Group):
    class Meta:
        app_label = "djscim"


class ScimUser(AbstractSCIMUserMixin, AbstractUser):
    scim_groups = models.ManyToManyField(ScimGroup, related_name="user_set", blank=True)

    class Meta:
        app_label = "djscim"
