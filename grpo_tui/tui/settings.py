"""The app's own settings: a small typed record, a JSON file, env-var overrides.

``<config dir>/app.json`` holds what the user chose inside the app (today: the
theme, saved when it is toggled with ``t``). ``GRPO_TUI_THEME`` overrides it for
one session: ``dark``, ``light``, ``ansi`` (the terminal's own 16 colours),
``auto`` or any Textual theme name. ``NO_COLOR`` is honoured by Textual itself.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..core.util.paths import config_home

ENV_THEME = "GRPO_TUI_THEME"
FILE_NAME = "app.json"

# dark/light pairs: the normal ones, and the 16-colour ones that use the terminal's palette
DARK, LIGHT = "textual-dark", "textual-light"
ANSI_DARK, ANSI_LIGHT = "ansi-dark", "ansi-light"
ALIASES = {"dark": DARK, "light": LIGHT, "ansi": ANSI_DARK, "ansi-dark": ANSI_DARK, "ansi-light": ANSI_LIGHT}


@dataclass
class AppSettings:
    theme: str = "auto"  # auto | dark | light | ansi | a Textual theme name

    @classmethod
    def path(cls) -> Path:
        return config_home() / FILE_NAME

    @classmethod
    def load(cls) -> "AppSettings":
        """Saved settings with env overrides applied; a missing or broken file gives defaults."""
        data: dict = {}
        try:
            text = cls.path().read_text(encoding="utf-8")
            import json  # here, not at the top: most users have no file, and the first frame waits for this

            raw = json.loads(text)
            if isinstance(raw, dict):
                data = raw
        except (OSError, ValueError):
            pass
        known = {f.name for f in fields(cls)}
        s = cls(**{k: str(v) for k, v in data.items() if k in known})
        env = os.environ.get(ENV_THEME, "").strip()
        if env:
            s.theme = env
        return s

    def save(self) -> None:
        # imported here: the app imports this module before its first frame, and core.run.rundir
        # (with json, tomllib, statistics behind it) is ~9 ms the first frame need not pay
        import json

        from ..core.run.rundir import atomic_write, private_dir

        private_dir(self.path().parent)
        atomic_write(self.path(), json.dumps(asdict(self), indent=2))


def resolve_theme(choice: str, *, sixteen_colours: bool) -> str:
    """A Textual theme name for a setting; ``auto`` picks by the terminal's colours."""
    choice = (choice or "auto").strip().lower()
    if choice == "auto":
        return ANSI_DARK if sixteen_colours else DARK
    name = ALIASES.get(choice, choice)
    if sixteen_colours and name == DARK:
        return ANSI_DARK
    if sixteen_colours and name == LIGHT:
        return ANSI_LIGHT
    return name


def toggled(theme: str) -> str:
    """The light counterpart of a dark theme and back."""
    if theme in (ANSI_DARK, ANSI_LIGHT):
        return ANSI_LIGHT if theme == ANSI_DARK else ANSI_DARK
    return DARK if theme == LIGHT else LIGHT
