"""Errors that mean "the user asked for something we will not do": one line on stderr, exit code 2.

``UserError`` is raised by the subcommands (grpo_tui.commands) for bad arguments; the
CLI prints it as ``grpo-tui: error: ...``. Configuration problems raise
``core.settings.config.ConfigError`` instead, which names the field and the fix.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input: printed on one line, exit code 2."""
