"""The options that shape a run's config, shared by `run`, `plan` and `rewards audit`: ``--set KEY=VALUE``
and ``--reward FILE.py:FUNC`` (both repeatable), and the preset they apply to."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..core.settings.config import RunConfig


def add_set_argument(parser, example: str = "num_generations=8") -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a preset field (TRL/Unsloth names), e.g. --set {example} (repeatable)")


def add_reward_argument(parser, what: str = "add a reward function") -> None:
    parser.add_argument("--reward", dest="rewards", action="append", default=[], metavar="FILE.py:FUNC",
                        help=f"{what} (path/file.py:func or module:func; repeatable)")


def preset_config(preset: str, overrides: list[str]) -> "RunConfig":
    """The preset with the --set overrides applied (ConfigError for a bad one); not yet validated."""
    from ..core.settings.config import parse_overrides
    from ..core.planning.presets import load_preset

    cfg = load_preset(preset)
    parsed = parse_overrides(overrides)
    return cfg.with_overrides(parsed) if parsed else cfg
