"""The whole Genesys user and leaver semantics, through the CLI against the emulator."""

from __future__ import annotations

from conftest import user

from scimctl.scim.schema import ENTERPRISE_USER, GENESYS_USER


def chain_manifest(**changes):
    boss = user(
        "M1",
        "boss@example.com",
        workEmail="boss.work@example.com",
        dateHire="2019-04-01",
        employeeNumber="0001",
        routingLanguages=[{"name": "English", "proficiency": 5}],
    )
    lead = user("M2", "lead@example.com", manager="M1", dateHire="2021-06-15")
    # Listed before their manager on purpose: apply must order by the manager chain.
    agent = user(
        "A1",
        "agent@example.com",
        manager="M2",
        groups=["Support"],
        routingSkills=[{"name": "Billing", "proficiency": 3}, {"name": "Sales", "proficiency": 1}],
        routingLanguages=[{"name": "Spanish", "proficiency": 4.5}],
    )
    agent.update(changes)
    return {
        "defaults": {"roles": ["Employee"], "division": "Home"},
        "groups": [{"name": "Support"}],
        "users": [agent, lead, boss],
    }


def test_manager_chain_work_email_hire_date_and_skills_round_trip(workspace):
    ws, emu = workspace, workspace.emulator
    ws.write_manifest(chain_manifest())
    applied = ws.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr

    users = {u["userName"]: u for u in emu.users()}
    boss, lead, agent = (users[f"{n}@example.com"] for n in ("boss", "lead", "agent"))
    assert ENTERPRISE_USER not in boss or "manager" not in boss[ENTERPRISE_USER]
    assert lead[ENTERPRISE_USER]["manager"] == {"value": boss["id"]}
    assert agent[ENTERPRISE_USER]["manager"] == {"value": lead["id"]}
    assert {"value": "boss.work@example.com", "type": "work"} in boss["emails"]
    assert boss[ENTERPRISE_USER]["dateHire"] == "2019-04-01"
    assert boss[ENTERPRISE_USER]["employeeNumber"] == "0001"
    assert sorted(agent[GENESYS_USER]["routingSkills"], key=lambda s: s["name"]) == [
        {"name": "Billing", "proficiency": 3.0},
        {"name": "Sales", "proficiency": 1.0},
    ]
    assert agent[GENESYS_USER]["routingLanguages"] == [{"name": "Spanish", "proficiency": 4.5}]

    again = ws.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr

    # A new manager and a changed skill level are updates, and apply sends live ids.
    ws.write_manifest(chain_manifest(manager="M1", routingSkills=[{"name": "Billing"}]))
    changed = ws.run("plan", "--detailed-exitcode")
    assert changed.returncode == 2, changed.stdout + changed.stderr
    assert "manager" in changed.stdout and "routingSkills" in changed.stdout
    assert ws.run("apply", "--auto-approve").returncode == 0
    agent = next(u for u in emu.users() if u["userName"] == "agent@example.com")
    assert agent[ENTERPRISE_USER]["manager"] == {"value": boss["id"]}
    assert agent[GENESYS_USER]["routingSkills"] == [{"name": "Billing", "proficiency": 0.0}]
    assert ws.run("plan", "--detailed-exitcode").returncode == 0


def test_unknown_skill_or_language_is_a_located_plan_error(workspace):
    ws, emu = workspace, workspace.emulator
    doc = chain_manifest(
        routingSkills=[{"name": "billing", "proficiency": 2}, {"name": "Nope", "proficiency": 1}]
    )
    ws.write_manifest(doc)
    planned = ws.run("plan")
    assert planned.returncode == 1
    assert (
        "scimctl.yaml:11: routingSkills: routing skill 'billing' does not exist in the directory "
        "(used by 1 user: agent@example.com); names are case-sensitive: did you mean 'Billing'?"
    ) in planned.stderr
    assert "scimctl.yaml:11: routingSkills: routing skill 'Nope' does not exist" in planned.stderr
    assert emu.users() == []
    # and the emulator itself refuses an unknown skill as Genesys would
    with emu.http() as h:
        resp = h.post(
            "/api/v2/scim/v2/Users",
            json={
                "userName": "x@example.com",
                "displayName": "X",
                GENESYS_USER: {"routingSkills": [{"name": "Nope", "proficiency": 1}]},
            },
        )
        assert resp.status_code == 400
        assert resp.json()["detail"] == "Routing skill 'Nope' does not exist"
        listed = h.get("/api/v2/routing/skills", params={"pageSize": "2"}).json()
        assert [e["name"] for e in listed["entities"]] == ["Billing", "Escalations"]
        assert listed["total"] == 3 and listed["pageCount"] == 2


def test_manager_cycle_unknown_and_self_are_located(workspace):
    ws = workspace
    doc = {
        "users": [
            user("A", "a@example.com", manager="B"),
            user("B", "b@example.com", manager="A"),
            user("C", "c@example.com", manager="C"),
            user("D", "d@example.com", manager="ZZ"),
        ]
    }
    ws.write_manifest(doc)
    path = "scimctl.yaml"
    result = ws.run("validate")
    assert result.returncode == 1
    lines = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert lines == [
        f"{path}:5: manager: manager cycle: A -> B -> A",
        f"{path}:13: manager: a user cannot be their own manager",
        f"{path}:17: manager: unknown manager 'ZZ': not the externalId of a user in the "
        "manifest (or the userName of a live user)",
    ]


def _leaver_manifest(mark_inactive: bool, drop: bool):
    users = [user("E1", "stay@example.com", groups=["Support"])]
    if not drop:
        users.append(user("E2", "leaver@example.com", groups=["Support"], active=not mark_inactive))
    return {"groups": [{"name": "Support"}], "users": users}


def _leave(ws, mark_inactive: bool, drop: bool):
    ws.write_manifest(_leaver_manifest(False, False))
    assert ws.run("apply", "--auto-approve").returncode == 0
    ws.write_manifest(_leaver_manifest(mark_inactive, drop))
    applied = ws.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    leaver = next(u for u in ws.emulator.users() if u["userName"] == "leaver@example.com")
    assert ws.run("plan", "--detailed-exitcode").returncode == 0
    return leaver["active"], ws.emulator.member_names("Support")


def test_leaver_marked_inactive_is_deactivated_and_leaves_groups(workspace):
    assert _leave(workspace, mark_inactive=True, drop=False) == (False, {"stay@example.com"})


def test_leaver_removed_from_feed_ends_the_same_way(workspace):
    assert _leave(workspace, mark_inactive=False, drop=True) == (False, {"stay@example.com"})


def test_rehire_is_re_keyed_as_its_own_action(workspace):
    ws, emu = workspace, workspace.emulator
    ws.write_manifest({"groups": [{"name": "Support"}], "users": [
        user("OLD-7", "rehire@example.com", groups=["Support"]),
        user("E1", "stay@example.com"),
    ]})  # fmt: skip
    assert ws.run("apply", "--auto-approve").returncode == 0
    # Terminated: removed from the feed, so deactivated by policy.
    ws.write_manifest({"groups": [{"name": "Support"}], "users": [user("E1", "stay@example.com")]})
    assert ws.run("apply", "--auto-approve").returncode == 0
    old = next(u for u in emu.users() if u["userName"] == "rehire@example.com")
    assert old["active"] is False

    rehired = user("NEW-9", "rehire@example.com", groups=["Support"], previousExternalIds=["OLD-7"])
    ws.write_manifest(
        {"groups": [{"name": "Support"}], "users": [rehired, user("E1", "stay@example.com")]}
    )
    planned = ws.run("plan", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert "rekey user NEW-9" in planned.stdout, planned.stdout
    assert "1 to re-key" in planned.stdout
    assert "create" not in planned.stdout and "deactivate" not in planned.stdout
    applied = ws.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    found = [u for u in emu.users() if u["userName"] == "rehire@example.com"]
    assert [(u["id"], u["externalId"], u["active"]) for u in found] == [(old["id"], "NEW-9", True)]
    assert emu.member_names("Support") == {"rehire@example.com"}
    assert ws.run("plan", "--detailed-exitcode").returncode == 0


def test_rehire_without_previous_ids_is_still_refused(workspace):
    ws = workspace
    ws.write_manifest({"users": [user("OLD-7", "rehire@example.com")]})
    assert ws.run("apply", "--auto-approve").returncode == 0
    ws.write_manifest({"users": [user("NEW-9", "rehire@example.com")]})
    planned = ws.run("plan")
    assert planned.returncode == 1
    assert "belongs to the account scimctl manages for externalId 'OLD-7'" in planned.stderr


def test_future_starter_waits_for_provision_from(workspace):
    ws, emu = workspace, workspace.emulator
    ws.write_manifest({"users": [
        user("E1", "now@example.com"),
        user("E2", "later@example.com", provision_from="2099-01-15"),
    ]})  # fmt: skip
    assert ws.run("apply", "--auto-approve").returncode == 0
    assert {u["userName"] for u in emu.users()} == {"now@example.com"}
    early = ws.run("validate", "--as-of", "2099-01-14")
    assert "Valid: 1 user," in early.stdout, early.stdout + early.stderr
    assert "Valid: 2 users" in ws.run("validate", "--as-of", "2099-01-15").stdout
    planned = ws.run("plan", SCIMCTL_AS_OF="2099-01-15")
    assert "+ create user E2 (later@example.com)" in planned.stdout, planned.stdout
    assert "E1" not in planned.stdout


def test_manager_named_by_live_user_name(seeded):
    ws = seeded([{"userName": "ceo@example.com", "displayName": "CEO", "externalId": "X-1"}])
    emu = ws.emulator
    ws.write_manifest({"users": [user("E1", "e1@example.com", manager="CEO@Example.com")]})
    applied = ws.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    users = {u["userName"]: u for u in emu.users()}
    assert users["e1@example.com"][ENTERPRISE_USER]["manager"] == {
        "value": users["ceo@example.com"]["id"]
    }
    assert ws.run("plan", "--detailed-exitcode").returncode == 0
    ws.write_manifest({"users": [user("E1", "e1@example.com", manager="nobody@example.com")]})
    planned = ws.run("plan")
    assert planned.returncode == 1
    assert (
        "scimctl.yaml:5: manager: manager 'nobody@example.com' is neither a user in the "
        "manifest nor in the directory"
    ) in planned.stderr
