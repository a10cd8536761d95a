"""Desired state: YAML manifests and CSV sources, validated and resolved."""

from scimctl.manifest.load import Manifest, load_manifest

__all__ = ["Manifest", "load_manifest"]
