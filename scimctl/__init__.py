"""scimctl: Terraform-style plan/apply for Genesys Cloud users over SCIM 2.0."""

# The build (setuptools-scm) writes _version.py from the git tag and commit, so an
# installed scimctl knows exactly what it is. A source tree that was never built or
# installed has no such file and says so instead of claiming a release.
try:
    from scimctl._version import __commit__ as _commit
    from scimctl._version import __version__
except ImportError:  # pragma: no cover - only in a tree that was never installed
    __version__ = "0.0.0+unknown"
    _commit = ""

__commit__: str = "" if _commit in ("", "None") else _commit.removeprefix("g")
__all__ = ["__commit__", "__version__", "version_text"]


def version_text() -> str:
    """What ``--version`` prints: the version and, when known, the commit it was built from."""
    return f"{__version__} (commit {__commit__})" if __commit__ else __version__
