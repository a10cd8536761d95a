"""What a target cannot do, as plan and apply honour it (issue 20).

Against services scimctl did not write: django-scim2 (no filter on externalId, derives
displayName, stores no title) and scim2-server configured without groups and with a
read-only title. The plan refuses what the service lacks, naming the manifest line and
the capability, unless the manifest says how to cope; a value the service does not
store is shown once as not supported, never proposed forever.
"""

from __future__ import annotations

from conftest import user
from flows import TargetWorkspace


def manifest(users: list[dict], groups: bool = True) -> dict:
    return {
        "policy": {"max_deprovision": "100%"},
        "groups": [{"name": "Sales"}] if groups else [],
        "users": users,
    }


def test_an_unsupported_declaration_names_its_line(tmp_path, sqlite_url):
    ws = TargetWorkspace(
        tmp_path,
        {"provider": "scim", "base_url": "http://127.0.0.1:9", "unsupported": ["userName"]},
        {"SCIM_TOKEN": "t"},
        sqlite_url,
    )
    ws.write_manifest(manifest([user("V-1", "v1@example.com")], groups=False))
    result = ws.run("validate")
    assert result.returncode == 1
    assert "scimctl.yaml:5: target.unsupported: 'userName' cannot be declared unsupported" in (
        result.stderr
    ), result.stderr
