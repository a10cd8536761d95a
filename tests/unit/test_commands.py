"""The commands layer as a Python caller uses it: plain functions that return values
and raise scimctl errors, with no click, no printing and no exit."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import user

from scimctl.commands import plans, records, state
from scimctl.config import Config
from scimctl.errors import ConfigError, NotFound
from scimctl.manifest import Manifest, load_manifest
from scimctl.state import Store


def manifest(tmp_path: Path, **extra: object) -> Manifest:
    doc = {
        "version": 1,
        "target": {"api_url": "http://127.0.0.1:9"},
        "users": [user("E1", "jane@example.com")],
        **extra,
    }
    path = tmp_path / "scimctl.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_manifest([path])


@pytest.fixture
def store(sqlite_url: str):
    s = Store(sqlite_url)
    yield s
    s.close()


def test_lookups_that_find_nothing_raise_not_found(store):
    with pytest.raises(NotFound, match="nothing named 'ghost' is managed in ws"):
        state.state_show(store, "ws", "ghost")
    with pytest.raises(NotFound, match="no single run matches 'nope'"):
        records.recorded_metrics(store.audit, run_id="nope")
    assert records.recorded_metrics(store.audit) == []
    with pytest.raises(NotFound, match="no single run matches 'nope'"):
        records.run_details(store.audit, "nope")


def test_state_and_records_commands_return_values(store):
    assert state.state_list(store, "ws").serial == 0
    assert state.state_unlock(store, "ws") is None  # nothing held it
    run_id = store.start_run("ws", "apply")
    store.finish_run(run_id, "succeeded")
    assert [r["id"] for r in records.runs(store.audit, limit=5)] == [run_id]
    assert records.run_details(store.audit, run_id[:8])["outcome"] == "succeeded"
    assert records.operations(store.audit, limit=5) == []
    assert records.verify(store.audit).ok
    assert "scimctl_" in records.metrics_export(store.telemetry)


def test_recorded_metrics_returns_the_recorded_figures(store):
    run_id = store.start_run("ws", "apply")
    store.put_metrics(run_id, {"requests_total": 3.0})
    store.finish_run(run_id, "succeeded")
    (only,) = records.recorded_metrics(store.audit, run_id=run_id[:8])
    assert only.run["id"] == run_id and only.metrics == {"requests_total": 3.0}


def test_webhook_needs_its_signing_secret(tmp_path):
    config = Config({})
    assert plans.hris_webhook(manifest(tmp_path), config) is None
    with_hook = manifest(tmp_path, hris={"webhook_url": "https://hooks.example/x"})
    with pytest.raises(ConfigError, match="SCIMCTL_WEBHOOK_SECRET is not"):
        plans.hris_webhook(with_hook, config)
    with pytest.raises(ConfigError, match="no hris.webhook_url"):
        records.hris_deliver(manifest(tmp_path), Store(f"sqlite:///{tmp_path / 's.db'}"), config)
    hook = plans.hris_webhook(with_hook, Config({"SCIMCTL_WEBHOOK_SECRET": "s3cret"}))
    assert hook is not None and "s3cret" not in repr(hook)


def test_import_target_from_options_or_manifest(tmp_path):
    target, written = plans.import_target(None, "http://127.0.0.1:9", None)
    assert target.api_url == "http://127.0.0.1:9"
    assert written == {"provider": "genesys", "api_url": "http://127.0.0.1:9"}
    target, written = plans.import_target(manifest(tmp_path), None, None)
    assert written["api_url"] == "http://127.0.0.1:9" and target.workspace
    with pytest.raises(ConfigError, match="--api-url, --region or a manifest"):
        plans.import_target(None, None, None)
