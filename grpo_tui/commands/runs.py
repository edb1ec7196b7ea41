"""`grpo-tui runs` (not built yet)."""

from __future__ import annotations


def add_arguments(parser, name: str) -> None:
    pass


def run(args) -> int:
    raise SystemExit("grpo-tui: 'runs' is not built yet")
