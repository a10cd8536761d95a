"""Prometheus export, metrics queries, credentials in webhook URLs, output conventions."""

from __future__ import annotations

from scimctl.text import mask_url


def test_mask_url_hides_every_credential_form():
    assert mask_url("https://u:p@h.example/x?token=abc&sig=def#frag") == (
        "https://***@h.example/x?token=***&sig=***#***"
    )
    assert mask_url("https://hooks.example/services/T01/B02/a1b2c3d4e5f6g7h8i9j0k1") == (
        "https://hooks.example/services/T01/B02/***"
    )
    plain = "https://hr.example.com/hooks/scimctl"
    assert mask_url(plain) == plain
