"""A restore that does not stick: reported as partial, recorded as it is, planned again."""

from __future__ import annotations

from typing import Any

from fakes import FakeDirectory, plan_of

from scimctl.apply.executor import Executor
from scimctl.model import LiveUser
from scimctl.plan.model import Action, Change
from scimctl.state.memory import MemoryStore


class DroppingDirectory(FakeDirectory):
    """Genesys dropping an attribute on the way back: the PATCH answers as if it took
    the title, but the account read back by id has none."""

    def get_user(self, user_id: str, **kw: Any) -> LiveUser | None:
        user = super().get_user(user_id, **kw)
        if user is None:
            return None
        attrs = {k: v for k, v in user.attrs.items() if k != "title"}
        return LiveUser(user.id, user.external_id, attrs, user.version)


def test_what_a_restore_did_not_bring_back_is_reported_and_recorded_as_it_is() -> None:
    directory = DroppingDirectory()
    directory.add_user("R1", "rita@example.com", active=False)
    action = Action(
        id="restore:user:R1",
        kind="restore",
        resource="user",
        key="R1",
        live_id="u-R1",
        version="3",
        userName="rita@example.com",
        changes={
            "externalId": Change(after="R1"),
            "userName": Change(after="rita@example.com"),
            "title": Change(after="Lead"),
            "active": Change(after=True),
        },
    )
    store = MemoryStore()
    plan = plan_of(action)
    run_id = store.start_run(plan.workspace, "apply")
    report = Executor(plan, directory, store, run_id).run()
    (result,) = report.results
    assert result.outcome == "partial"
    assert "title did not stick" in (result.error or "")
    assert not report.ok
    state = store.state(plan.workspace)
    assert state.users["R1"].id == "u-R1"
    # Recorded as the account is now, so the next plan sets the title again.
    assert "title" not in state.applied["R1"]
