"""examples/hris: a realistic export validates, applies, and then plans no changes."""

from __future__ import annotations

from pathlib import Path

from scimctl.emulator.directory import Directory
from scimctl.emulator.seed import load_seed

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hris"


def test_export_is_as_messy_as_promised():
    data = (EXAMPLE / "export.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    text = data.decode("utf-8-sig")
    assert text.count("\r\n") >= 201
    for needle in ("Terminated", "On Leave", " x", "ext. ", "Søren", "W1099", "Billing:"):
        assert needle in text, needle
    seeded = load_seed(EXAMPLE / "seed.yaml", Directory())
    assert "Billing" in seeded.skills and "German" in seeded.languages
