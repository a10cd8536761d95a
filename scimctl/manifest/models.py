"""The manifest's schema, as pydantic models.

These validate input only. Field validators reject what Genesys would refuse
(email-shaped userName, E.164 phone numbers) so the mistake is reported with its
line, before any network call.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scimctl.model import DECLARABLE, DEFAULT_REDACT, LOOKUPS, REDACTABLE
from scimctl.model.grants import ALL_DIVISIONS, RoleScope
from scimctl.model.ownership import ALIASES, canonical_modes

# Pragmatic RFC 5321 shape: dot-atom local part, dotted hostname, alphabetic TLD.
EMAIL_RE = re.compile(
    r"^(?!\.)(?!.*\.\.)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+(?<!\.)"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
E164_RE = re.compile(r"^(\+[1-9]\d{6,14}|tel:\+[1-9]\d{6,14};ext=\d{1,10})$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Accepted ``encoding:`` values of a CSV source -> the Python codec that reads them.
ENCODINGS = {
    "utf-8": "utf-8-sig",  # with or without a byte-order mark
    "utf-8-sig": "utf-8-sig",
    "cp1252": "cp1252",
    "windows-1252": "cp1252",
    "latin-1": "latin-1",
    "iso-8859-1": "latin-1",
    "utf-16": "utf-16",
    "utf-16-le": "utf-16-le",
    "utf-16-be": "utf-16-be",
}
MAX_ROUTING = 50  # Genesys accepts at most 50 skills and 50 languages per user
PHONE_TYPES = (
    "work", "work2", "work3", "work4", "home", "mobile", "other",
    "microsoftteams", "zoomphone", "eightbyeight", "ringcentral",
)  # fmt: skip


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


_C0_NAMES = {
    "\0": "null", "\t": "tab", "\n": "line feed", "\r": "carriage return", "\x1b": "escape",
}  # fmt: skip


def control_character(text: str) -> str | None:
    """The first character that has no place in a name, id or address, described.

    Control characters (C0 such as newline, ESC and NUL; C1), format characters
    (bidi overrides such as U+202E, zero-width marks) and line/paragraph separators
    would reach Genesys and every plan as invisible or misleading text."""
    if text.isprintable():  # every refused category is unprintable; checked in C
        return None
    for i, ch in enumerate(text):
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"):
            name = _C0_NAMES.get(ch) or unicodedata.name(ch, "control character").lower()
            return f"U+{ord(ch):04X} ({name}) at position {i + 1}"
    return None


def _printable(value: Any) -> bool:
    """A string with nothing to refuse, in one C call: what almost every value is."""
    return value.__class__ is str and value.isprintable()


def _reject_control(value: Any, where: str = "") -> None:
    if isinstance(value, str):
        found = control_character(value)
        if found:
            raise ValueError(f"contains a control character {found}{where}; remove it")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if not _printable(item):
                _reject_control(item, f" in item {i + 1}")
    elif isinstance(value, dict):
        for k, v in value.items():
            if not (_printable(k) and _printable(v)):
                _reject_control(k, f" in key {k!r}" if isinstance(k, str) else "")
                _reject_control(v, f" under {k!r}" if isinstance(k, str) else "")


class Clean(Strict):
    """A model whose every string is free of control characters.

    Checked before whitespace stripping, so a trailing newline is reported, not
    silently dropped. CSV sources are not Clean: their templates and delimiters may
    hold tabs and newlines; the users they render are checked as users."""

    @model_validator(mode="before")
    @classmethod
    def _no_control_in_keys(cls, data: Any) -> Any:
        # Checked before pydantic echoes an unknown key back in an error message.
        if isinstance(data, dict):
            for key in data:
                if _printable(key):
                    continue
                found = control_character(key) if isinstance(key, str) else None
                if found:
                    raise ValueError(f"a key contains a control character {found}; remove it")
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _no_control(cls, v: Any) -> Any:
        if not _printable(v):
            _reject_control(v)
        return v


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class ClientModel(Clean):
    """One more OAuth client for the token pool: the *names* of the environment
    variables holding its id and secret. A value that is not a variable name is refused,
    so a secret pasted here is an error, not a secret in the repository and the plan."""

    id: str
    secret: str

    @field_validator("id", "secret")
    @classmethod
    def _variable_name(cls, v: str) -> str:
        if not _ENV_NAME.fullmatch(v):
            raise ValueError(
                "name the environment variable (such as GENESYS_CLIENT_SECRET_2), "
                "never the value itself"
            )
        return v


class TargetModel(Clean):
    provider: Literal["genesys", "scim"] = "genesys"
    region: str | None = None
    api_url: str | None = None
    login_url: str | None = None
    # provider scim: the SCIM root (RFC 7644 base URL) and, for client credentials, the
    # OAuth token endpoint. Credentials themselves never live in the manifest.
    base_url: str | None = None
    token_url: str | None = None
    # Throughput (scimctl/scim/pool.py): tokens of the one client, each with its own
    # rate limit, and a ceiling for the whole run in requests per minute ("600/min").
    tokens: int = Field(1, ge=1, le=50)
    max_rate: int | None = Field(None, ge=1)
    # More clients of the org; the tokens are spread over them and the default pair.
    clients: list[ClientModel] = Field(default_factory=list, max_length=49)
    # What the service cannot do and how to cope (docs/interop.md): attributes it never
    # stores (never sent, never compared), and how apply looks a user up when it cannot
    # filter on externalId.
    # None when not given, so that import writes back only what the manifest said.
    unsupported: list[str] | None = None
    lookup: Literal[LOOKUPS] | None = None  # type: ignore[valid-type]

    @field_validator("unsupported")
    @classmethod
    def _declarable(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        out = []
        for name in v:
            attr = ALIASES.get(name, name)
            if attr not in DECLARABLE:
                allowed = ", ".join(DECLARABLE)
                raise ValueError(f"{name!r} cannot be declared unsupported (one of: {allowed})")
            out.append(attr)
        return sorted(set(out))

    @field_validator("max_rate", mode="before")
    @classmethod
    def _per_minute(cls, v: Any) -> Any:
        if isinstance(v, str):
            text = v.strip().lower().removesuffix("/min").strip()
            if not text.isdigit():
                raise ValueError(f"{v!r}: use requests per minute, such as 600/min")
            return int(text)
        return v


Scalar = str | int | float
Values = Annotated[list[Scalar], Field(min_length=1)] | Scalar


class GrantModel(Clean):
    """A role in a conflict rule, optionally in one division (role x division grants)."""

    role: str = Field(min_length=1)
    division: str | None = None


class SubjectModel(Clean):
    """``{role: NAME}`` or ``{group: NAME}``: whom a rule is about."""

    role: str | None = Field(None, min_length=1)
    group: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one(self) -> SubjectModel:
        if (self.role is None) == (self.group is None):
            raise ValueError("give exactly one of role or group")
        return self


class RuleModel(Clean):
    """One ``policy.rules`` entry; its kind is the key it has (conflict, require, max, only)."""

    id: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1)
    conflict: Annotated[list[str | GrantModel], Field(min_length=2)] | None = None
    when: SubjectModel | None = None
    require: dict[str, Values] | None = None
    role: str | None = Field(None, min_length=1)
    group: str | None = Field(None, min_length=1)
    max: int | None = Field(None, ge=0)
    only: dict[str, Values] | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("require", "only")
    @classmethod
    def _conditions(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None and not v:
            raise ValueError("needs at least one condition")
        for key, val in (v or {}).items():
            if key in ("attribute", "role", "group") and not isinstance(val, str | list):
                raise ValueError(f"{key}: give a name or a list of names")
        return v

    @model_validator(mode="after")
    def _kind(self) -> RuleModel:
        kinds = [
            k for k, on in (
                ("conflict", self.conflict is not None),
                ("requires", self.when is not None or self.require is not None),
                ("limit", self.max is not None),
                ("only", self.only is not None),
            ) if on
        ]  # fmt: skip
        if len(kinds) != 1:
            raise ValueError(
                "give exactly one kind: conflict: [roles], when: + require:, "
                "role:/group: + max:, or role: + only:"
                + (f" (found {', '.join(kinds)})" if kinds else "")
            )
        kind = kinds[0]
        if kind == "requires" and (self.when is None or self.require is None):
            raise ValueError("a requires rule needs both when: and require:")
        subject = self.role is not None or self.group is not None
        if kind in ("limit", "only"):
            if (self.role is None) == (self.group is None):
                raise ValueError(
                    f"a {'max' if kind == 'limit' else 'only'} rule needs role: or group:"
                )
        elif subject:
            raise ValueError("role:/group: belong to max: and only: rules")
        return self


class ExceptionModel(Clean):
    """One ``policy.exceptions`` entry: a reviewed, dated exception to one rule for one user."""

    rule: str = Field(min_length=1)
    user: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    until: str
    approved_by: str = Field(min_length=1)

    @field_validator("rule", "user", mode="before")
    @classmethod
    def _text(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("until", mode="before")
    @classmethod
    def _date(cls, v: object) -> object:
        return _iso_date(v)


class PolicyModel(Clean):
    max_group_depth: int = Field(5, ge=1, le=50)
    deny_permissions: list[str] = ["authorization:*", "oauth:*", "admin", "admin:*"]
    deprovision: Literal["deactivate", "delete", "ignore"] = "deactivate"
    max_deprovision: str = "10%"
    password: Literal["none", "generate"] = "none"
    default_role: str | None = "Employee"
    # Access governance: separation-of-duties rules and their dated exceptions.
    rules: list[RuleModel] = []
    exceptions: list[ExceptionModel] = []
    # Attribute ownership: authoritative (default) | additive | ignore, per attribute.
    ownership: dict[str, str] = {}

    @field_validator("ownership")
    @classmethod
    def _ownership(cls, v: dict[str, str]) -> dict[str, str]:
        return canonical_modes(v)

    @field_validator("max_deprovision", mode="before")
    @classmethod
    def _limit(cls, v: object) -> str:
        text = str(v).strip()
        if not re.fullmatch(r"\d+%?", text):
            raise ValueError("must be a count such as 25 or a share such as 10%")
        return text


class PhoneModel(Clean):
    type: Literal[PHONE_TYPES] = "work"  # type: ignore[valid-type]
    value: str

    @field_validator("value")
    @classmethod
    def _e164(cls, v: str) -> str:
        if not E164_RE.match(v):
            raise ValueError(
                f"{v!r} is not an E.164 number such as +15555550100 or tel:+15555550100;ext=12"
            )
        return v


class ProficiencyModel(Clean):
    """A routing skill or language: its case-sensitive name and a level from 0 to 5."""

    name: str = Field(min_length=1)
    proficiency: float = Field(0, ge=0, le=5)


def _iso_date(v: object) -> object:
    """YAML reads 2024-03-01 as a date; a CSV template gives text. Both mean the day."""
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str):
        text = v.strip()
        try:
            if DATE_RE.match(text):
                dt.date.fromisoformat(text)
                return text
        except ValueError:
            pass
        raise ValueError(f"{text!r} is not a date in the form YYYY-MM-DD")
    return v


def _roles(v: object) -> object:
    """A role is a name, or ``{name: Supervisor, divisions: [Sales, Support]}`` (or
    ``divisions: "*"``): granted in those divisions through the Platform API."""
    if not isinstance(v, list):
        return v
    out: list[str | RoleScope] = []
    plain: set[str] = set()
    scoped: set[str] = set()
    for i, item in enumerate(v):
        if isinstance(item, str):
            if not item.strip():
                raise ValueError(f"roles[{i}] is empty")
            out.append(item)
            plain.add(item)
            continue
        if not isinstance(item, dict):
            raise ValueError(f"roles[{i}] must be a role name or {{name, divisions}}")
        unknown = sorted(str(k) for k in item if k not in ("name", "divisions"))
        if unknown:
            raise ValueError(f"roles[{i}]: unknown key {unknown[0]!r} (allowed: name, divisions)")
        name, divisions = item.get("name"), item.get("divisions")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"roles[{i}].name must be a role name")
        if divisions == ALL_DIVISIONS:
            divs: tuple[str, ...] = (ALL_DIVISIONS,)
        elif (
            isinstance(divisions, list)
            and divisions
            and all(isinstance(d, str) and d.strip() for d in divisions)
        ):
            divs = tuple(sorted(set(divisions)))
        else:
            raise ValueError(
                f'roles[{i}].divisions must be a non-empty list of division names, or "*"'
            )
        if name in scoped:
            raise ValueError(f"roles[{i}]: role {name!r} is listed twice with divisions")
        scoped.add(name)
        out.append(RoleScope(name, divs))
    both = sorted(plain & scoped)
    if both:
        raise ValueError(f"role {both[0]!r} is listed both as a name and with divisions")
    return out


class DefaultsModel(Clean):
    active: bool | None = None
    roles: list[str | RoleScope] | None = None
    division: str | None = None
    department: str | None = None
    title: str | None = None

    @field_validator("roles", mode="before")
    @classmethod
    def _scoped_roles(cls, v: object) -> object:
        return _roles(v)


# Keys end up in SCIM filter URLs (lookups) and in the state database's 255-character
# key columns, so they are bounded here, where the error can name file and line.
MAX_EXTERNAL_ID = 255
MAX_USER_NAME = 254  # RFC 5321: the longest usable email address
MAX_LOCAL_PART = 64  # RFC 5321 section 4.5.3.1.1: the part before the @


class UserModel(Clean):
    externalId: str = Field(min_length=1, max_length=MAX_EXTERNAL_ID)
    userName: str = Field(max_length=MAX_USER_NAME)
    displayName: str = Field(min_length=1)
    active: bool | None = None
    title: str | None = None
    department: str | None = None
    division: str | None = None
    employeeNumber: str | None = None
    phoneNumbers: list[PhoneModel] | None = None
    roles: list[str | RoleScope] | None = None
    groups: list[str] = []
    # This user's own attribute ownership, over policy.ownership.
    ownership: dict[str, str] | None = None
    # The enterprise extension's manager, named by the manager's externalId (or the
    # userName of a live user scimctl does not manage).
    manager: str | None = None
    workEmail: str | None = None  # emails[type=work]; type=other is the userName
    dateHire: str | None = None  # YYYY-MM-DD
    routingSkills: list[ProficiencyModel] | None = Field(None, max_length=MAX_ROUTING)
    routingLanguages: list[ProficiencyModel] | None = Field(None, max_length=MAX_ROUTING)
    # Keys this person had before (a rehire): an account carrying one is re-keyed.
    previousExternalIds: list[str] = []
    # A future starter is not desired before this day (see --as-of).
    provision_from: str | None = None

    @field_validator("externalId", "employeeNumber", "manager", mode="before")
    @classmethod
    def _stringify(cls, v: object) -> object:
        # HR ids are often numeric in YAML; they are identifiers, not numbers.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("roles", mode="before")
    @classmethod
    def _scoped_roles(cls, v: object) -> object:
        return _roles(v)

    @field_validator("ownership")
    @classmethod
    def _ownership(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return canonical_modes(v) if v is not None else None

    @field_validator("previousExternalIds", mode="before")
    @classmethod
    def _stringify_list(cls, v: object) -> object:
        if isinstance(v, list):
            return [str(i) if isinstance(i, int) and not isinstance(i, bool) else i for i in v]
        return v

    @field_validator("userName", "workEmail")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not EMAIL_RE.match(v):
            raise ValueError(f"{v!r} is not a valid email address")
        local = (v or "").rpartition("@")[0]
        if len(local) > MAX_LOCAL_PART:
            raise ValueError(
                f"{v!r}: the part before @ is {len(local)} characters; RFC 5321 allows "
                f"{MAX_LOCAL_PART}"
            )
        return v

    @field_validator("dateHire", "provision_from", mode="before")
    @classmethod
    def _date(cls, v: object) -> object:
        return _iso_date(v)

    @field_validator("routingSkills", "routingLanguages")
    @classmethod
    def _unique_names(cls, v: list[ProficiencyModel] | None) -> list[ProficiencyModel] | None:
        names = [p.name for p in v or []]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"{', '.join(map(repr, dupes))} listed twice")
        return v


class GroupModel(Clean):
    name: str = Field(min_length=1)
    parent: str | None = None
    authoritative: bool = False
    # Opt-in: plan creates the group when the directory lacks it (provider scim only,
    # and only if the service lists a Group resource type). Off, a missing group is an
    # error, so a typo never becomes a new group.
    create: bool = False


class SourceModel(BaseModel):
    # No whitespace stripping here: a tab is a delimiter, not padding.
    model_config = ConfigDict(extra="forbid")

    csv: str = Field(min_length=1)
    map: dict[str, str]
    delimiter: str = ","
    encoding: str = "utf-8"
    when: str | None = None  # a template; rows where it renders false are not desired

    @field_validator("delimiter", mode="before")
    @classmethod
    def _delimiter(cls, v: object) -> object:
        if isinstance(v, str) and v.strip().lower() in ("tab", "\\t"):
            return "\t"
        return v

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str) -> str:
        if len(v) != 1 or v in '"\r\n\0' or v.isalnum():
            raise ValueError(f"{v!r} cannot be a delimiter; use one character such as , ; or tab")
        return v

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str) -> str:
        name = v.strip().lower().replace("_", "-")
        name = {"utf8": "utf-8", "utf16": "utf-16"}.get(name, name)
        if name not in ENCODINGS:
            raise ValueError(f"{v!r} is not supported; use one of {', '.join(ENCODINGS)}")
        return name


class HrisModel(Clean):
    webhook_url: str


class ReviewModel(Clean):
    """How plans are shown to reviewers: ``redact`` lists what ``--redact`` masks."""

    redact: list[Literal[REDACTABLE]] = list(DEFAULT_REDACT)  # type: ignore[valid-type]


class ManifestModel(Clean):
    version: Literal[1] = 1
    target: TargetModel | None = None
    defaults: DefaultsModel | None = None
    policy: PolicyModel | None = None
    groups: list[GroupModel] = []
    users: list[UserModel] = []
    sources: list[SourceModel] = []
    hris: HrisModel | None = None
    review: ReviewModel | None = None
    # Accounts scimctl never touches, by externalId or userName.
    exclude: list[Annotated[str, Field(min_length=1, max_length=MAX_EXTERNAL_ID)]] = []
