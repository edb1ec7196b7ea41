"""`grpo-tui report` (not built yet)."""

from __future__ import annotations


def add_arguments(parser, name: str) -> None:
    pass


def run(args) -> int:
    raise SystemExit("grpo-tui: 'report' is not built yet")
