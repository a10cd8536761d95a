"""The ``scimctl`` command: parse options, call the library, render, set the exit code.

``base`` holds the group (the one error boundary), the shared options and the
helpers that resolve options into library inputs; each other module adds the
commands of one area to it. Nothing here decides anything a Python caller of the
library (:mod:`scimctl.commands`) could not decide the same way.
"""

from __future__ import annotations

from scimctl.cli import plans, records, report, service, state  # noqa: F401  (they add the commands)
from scimctl.cli.base import main
from scimctl.cli.examples import add_examples

add_examples(main)

__all__ = ["main"]
