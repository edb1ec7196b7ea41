"""ConfigError: a configuration problem, named by field with its fix. A leaf, so that both the run
record (core.settings.config) and the libraries' rules for its fields (core.settings.fields) raise it."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem, with the field it concerns and how to fix it."""

    def __init__(self, field_name: str, reason: str, fix: str = ""):
        self.field = field_name
        self.reason = reason
        self.fix = fix
        msg = f"{field_name}: {reason}"
        if fix:
            msg += f" ({fix})"
        super().__init__(msg)
