"""The reward registry: built-in components, weights, truncation zeroing, and the launch-time
validation of user reward functions (import, call on a probe batch, check the result)."""

from __future__ import annotations

import textwrap

import pytest

from grpo_tui.core.settings.config import ConfigError, RunConfig
from grpo_tui.core.planning.presets import discover
from grpo_tui.trainer import rewards as R
from grpo_tui.trainer.rewards import registry

ALL = ["format_strict", "format_soft", "correctness", "overlong_penalty", "repetition_penalty"]
GOOD = "<think>two plus two is 4</think><answer>4</answer>"


def call(funcs, completions, ids, answer):
    return {f.__name__: f(prompts=["q"] * len(completions), completions=completions, completion_ids=ids,
                          answer=answer, trainer_state=None) for f in funcs}


def test_builtins_build_with_names_and_weights():
    cfg = RunConfig(rewards=ALL + ["format"], reward_weights=[0.5, 0.5, 2, 1, 1, 0.25]).validate()
    funcs, weights = R.build_reward_funcs(cfg)
    assert [f.__name__ for f in funcs] == ALL + ["format"]
    assert weights == [0.5, 0.5, 2.0, 1.0, 1.0, 0.25]
    out = call(funcs, [GOOD, "4"], [[1, 2, 3], [1]], ["4", "4"])
    assert out["correctness"] == [1.0, 0.0]  # "4" outside the tags never counts
    assert out["format_strict"] == [0.5, 0.0] and out["format"] == [1.0, 0.0]


def test_floor_truncated_reward_gives_every_component_its_floor():
    cfg = RunConfig(rewards=["format_strict", "correctness", "overlong_penalty"], max_completion_length=8,
                    floor_truncated_reward=True)
    funcs, _ = R.build_reward_funcs(cfg)
    out = call(funcs, [GOOD, GOOD], [[1] * 5, [1] * 8], ["4", "4"])
    assert out == {"format_strict": [0.5, 0.0], "correctness": [1.0, 0.0], "overlong_penalty": [0.0, -1.0]}
    cfg.floor_truncated_reward = False
    funcs, _ = R.build_reward_funcs(cfg)
    assert call(funcs, [GOOD, GOOD], [[1] * 5, [1] * 8], ["4", "4"])["correctness"] == [1.0, 1.0]
    cfg.zero_truncated_reward = True  # the old name reads as the floor (a zero was paid truncation)
    funcs, _ = R.build_reward_funcs(cfg)
    assert call(funcs, [GOOD, GOOD], [[1] * 5, [1] * 8], ["4", "4"])["overlong_penalty"] == [0.0, -1.0]


def test_overlong_buffer_from_config():
    cfg = RunConfig(rewards=["overlong_penalty"], max_completion_length=20, overlong_buffer=10)
    (f,), _ = R.build_reward_funcs(cfg)
    assert f(prompts=None, completions=[""] * 3, completion_ids=[[1] * 10, [1] * 15, [1] * 20]) == [0.0, -0.5, -1.0]


def test_shipped_presets_do_not_let_format_dominate():
    presets = [p for p in discover().values() if p.ok]
    assert presets
    for p in presets:
        assert R.format_dominance_warning(p.config) is None, p.name
    bad = RunConfig(rewards=["format_strict", "format_soft", "correctness"], reward_weights=[2, 1, 1])
    assert "lower the format weights" in R.format_dominance_warning(bad)


def _user_file(tmp_path, body: str) -> str:
    path = tmp_path / "my_rewards.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_user_reward_from_file_is_probed_and_used(tmp_path):
    path = _user_file(tmp_path, """
        def short(completions, **kwargs):
            return [1.0 / (1 + len(c)) for c in completions]
    """)
    cfg = RunConfig(rewards=["correctness", f"{path}:short"])
    R.validate_reward_specs(cfg)
    funcs, _ = R.build_reward_funcs(cfg)
    assert funcs[1].__name__ == "short"
    assert funcs[1](prompts=["q"], completions=["abc"], completion_ids=[[1]]) == [0.25]


def test_user_reward_from_module(tmp_path, monkeypatch):
    (tmp_path / "pkg_rw.py").write_text("def r(prompts, completions, completion_ids=None, **kw):\n"
                                        "    return [None] * len(completions)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    R.validate_reward_specs(RunConfig(rewards=["pkg_rw:r"]))


@pytest.mark.parametrize("body,match", [
    ("def f(completions, **kw):\n    raise KeyError('solution')\n", "failed on a probe batch.*KeyError"),
    ("def f(completions, **kw):\n    return [1.0]\n", "1 value\\(s\\) for 3 completions"),
    ("def f(completions, **kw):\n    return ['good'] * len(completions)\n", "returned str 'good'"),
    ("def f(completions, **kw):\n    return 1.0\n", "returned float, not a list"),
    ("def f(completions, **kw):\n    return [float('inf')] * 3\n", "infinite"),
    ("def f(completions):\n    return [0.0] * len(completions)\n", "must accept"),
    ("import sys\nsys.exit(3)\ndef f(completions, **kw):\n    return [0.0]\n", "cannot import"),
    ("import not_a_module_xyz\n", "cannot import.*ModuleNotFoundError"),
    ("g = 1\n", "has no function 'f'"),
])
def test_bad_user_rewards_are_clear_config_errors(tmp_path, body, match):
    path = _user_file(tmp_path, body)
    with pytest.raises(ConfigError, match=match) as info:
        R.validate_reward_specs(RunConfig(rewards=[f"{path}:f"]))
    assert info.value.field == "rewards"


def test_missing_file_and_unknown_builtin():
    with pytest.raises(ConfigError, match="does not exist"):
        R.validate_reward_specs(RunConfig(rewards=["/nope/x.py:f"]))
    with pytest.raises(ConfigError, match="unknown reward function 'formatt'"):
        R.validate_reward_specs(RunConfig(rewards=["formatt"]))


def test_probe_accepts_numpy_scalars(tmp_path):
    path = _user_file(tmp_path, """
        import numpy as np
        def f(prompts, completions, completion_ids=None, **kw):
            return np.zeros(len(completions), dtype=np.float32)
    """)
    R.validate_reward_specs(RunConfig(rewards=[f"{path}:f"]))


def test_probe_batch_uses_the_configured_tags():
    cfg = RunConfig(solution_start="<SOLUTION>", solution_end="</SOLUTION>")
    assert "<SOLUTION>4</SOLUTION>" in registry.probe_batch(cfg)["completions"][0]
