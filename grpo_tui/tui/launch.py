"""Open the app: `grpo-tui` (start screen) and `grpo-tui attach RUN` (straight to a run).

Bad input is one line on stderr and exit code 2, before any screen is drawn.
"""

from __future__ import annotations

import sys


def _error(msg: str) -> int:
    print(f"grpo-tui: error: {msg}", file=sys.stderr)
    return 2


def run_app(*, preset: str | None = None, attach: str | None = None) -> int:
    from ..core.config import ConfigError
    from ..core.rundir import RunNotFound, resolve_run

    run = None
    if attach is not None:
        try:
            run = resolve_run(attach)
            run.info()  # a foreign or broken run.json is a clear error, not a crash inside the app
        except RunNotFound as exc:
            return _error(str(exc))
        except (OSError, ValueError) as exc:
            return _error(f"{attach}: cannot read its run.json ({exc.__class__.__name__}: {exc})")
    if preset is not None:
        from ..core.presets import load_preset

        try:
            load_preset(preset)
        except ConfigError as exc:
            return _error(str(exc))
    from .app import GrpoApp

    app = GrpoApp(preset=preset, attach=run)
    result = app.run()
    return int(app.return_code or result or 0)
