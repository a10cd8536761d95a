"""The base of every error a user can fix: the CLI prints these as one clear line."""


class ScimctlError(Exception):
    """An expected failure with a message meant for the operator, not a traceback."""
