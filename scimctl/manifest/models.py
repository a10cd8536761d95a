"""The manifest's schema, as pydantic models.

These validate input only. Field validators reject what Genesys would refuse
(email-shaped userName, E.164 phone numbers) so the mistake is reported with its
line, before any network call.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Pragmatic RFC 5321 shape: dot-atom local part, dotted hostname, alphabetic TLD.
EMAIL_RE = re.compile(
    r"^(?!\.)(?!.*\.\.)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+(?<!\.)"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
PHONE_TYPES = (
    "work", "work2", "work3", "work4", "home", "mobile", "other",
    "microsoftteams", "zoomphone", "eightbyeight", "ringcentral",
)  # fmt: skip


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TargetModel(Strict):
    provider: Literal["genesys", "scim"] = "genesys"
    region: str | None = None
    api_url: str | None = None
    login_url: str | None = None
    # provider scim: the SCIM root (RFC 7644 base URL) and, for client credentials, the
    # OAuth token endpoint. Credentials themselves never live in the manifest.
    base_url: str | None = None
    token_url: str | None = None


class PolicyModel(Strict):
    max_group_depth: int = Field(5, ge=1, le=50)
    deny_permissions: list[str] = ["authorization:*", "oauth:*", "admin", "admin:*"]
    deprovision: Literal["deactivate", "delete", "ignore"] = "deactivate"
    max_deprovision: str = "10%"
    password: Literal["none", "generate"] = "none"

    @field_validator("max_deprovision", mode="before")
    @classmethod
    def _limit(cls, v: object) -> str:
        text = str(v).strip()
        if not re.fullmatch(r"\d+%?", text):
            raise ValueError("must be a count such as 25 or a share such as 10%")
        return text


class PhoneModel(Strict):
    type: Literal[PHONE_TYPES] = "work"  # type: ignore[valid-type]
    value: str

    @field_validator("value")
    @classmethod
    def _e164(cls, v: str) -> str:
        if not E164_RE.match(v):
            raise ValueError(f"{v!r} is not an E.164 number such as +15555550100")
        return v


class DefaultsModel(Strict):
    active: bool | None = None
    roles: list[str] | None = None
    division: str | None = None
    department: str | None = None
    title: str | None = None


class UserModel(Strict):
    externalId: str = Field(min_length=1)
    userName: str
    displayName: str = Field(min_length=1)
    active: bool | None = None
    title: str | None = None
    department: str | None = None
    division: str | None = None
    employeeNumber: str | None = None
    phoneNumbers: list[PhoneModel] | None = None
    roles: list[str] | None = None
    groups: list[str] = []

    @field_validator("externalId", "employeeNumber", mode="before")
    @classmethod
    def _stringify(cls, v: object) -> object:
        # HR ids are often numeric in YAML; they are identifiers, not numbers.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("userName")
    @classmethod
    def _email(cls, v: str) -> str:
        if not EMAIL_RE.match(v):
            raise ValueError(f"{v!r} is not a valid email address")
        return v


class GroupModel(Strict):
    name: str = Field(min_length=1)
    parent: str | None = None
    authoritative: bool = False


class SourceModel(Strict):
    csv: str
    map: dict[str, str]
    delimiter: str = ","


class HrisModel(Strict):
    webhook_url: str


class ManifestModel(Strict):
    version: Literal[1] = 1
    target: TargetModel | None = None
    defaults: DefaultsModel | None = None
    policy: PolicyModel | None = None
    groups: list[GroupModel] = []
    users: list[UserModel] = []
    sources: list[SourceModel] = []
    hris: HrisModel | None = None
