"""Open the app: `grpo-tui` (start screen) and `grpo-tui attach RUN` (straight to a run).

Bad input is one line on stderr and exit code 2, before any screen is drawn.
"""

from __future__ import annotations

import sys


def _error(msg: str) -> int:
    print(f"grpo-tui: error: {msg}", file=sys.stderr)
    return 2


def run_app(*, preset: str | None = None, attach: str | None = None) -> int:
    from ..core.settings.config import ConfigError
    from ..core.run.run_ref import RunNotFound, resolve_run

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
        from ..core.planning.presets import load_preset

        try:
            load_preset(preset)
        except ConfigError as exc:
            return _error(str(exc))
    from .app import GrpoApp

    app = GrpoApp(preset=preset, attach=run)
    result = app.run()
    return int(app.return_code or result or 0)


def serve_app(*, host: str = "127.0.0.1", port: int = 8566, preset: str | None = None) -> int:
    """`grpo-tui --serve`: the same app in a browser tab, one app process per tab (textual-serve).

    Loopback only by default: reach it from your laptop with an SSH tunnel,
    ``ssh -L 8566:127.0.0.1:8566 gpu-box``, then open http://127.0.0.1:8566.
    There is no authentication, so binding another address is the user's call.
    """
    import shlex

    try:
        from textual_serve.server import Server
    except ImportError:
        return _error("--serve needs textual-serve: pip install 'grpo-tui[serve]'")
    if preset is not None:
        from ..core.settings.config import ConfigError
        from ..core.planning.presets import load_preset

        try:
            load_preset(preset)
        except ConfigError as exc:
            return _error(str(exc))
    command = [sys.executable, "-m", "grpo_tui"] + (["--preset", preset] if preset else [])
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"grpo-tui: warning: serving on {host}: anyone who can reach it controls your runs "
              "(there is no login); prefer the default 127.0.0.1 and an SSH tunnel", file=sys.stderr)
    print(f"from another machine: ssh -L {port}:127.0.0.1:{port} THIS_HOST, then open http://127.0.0.1:{port}",
          file=sys.stderr)
    Server(shlex.join(command), host=host, port=port, title="grpo-tui").serve()
    return 0
