"""The reward set around the rules, word for word and number for number: what a user reads when a
reward function or a gold column is refused (field, reason and fix), the probe batch a user's
function is called with, the highest total the built-ins can pay, the lenient ``format``
component's partial credit, and every layout of a local dataset's gold column. Each case was
chosen so that a small change (a mutant from bench/mutation.py, module rewards-pkg) changes it."""

from __future__ import annotations

import signal
import sys
import textwrap
import threading

import pytest

from grpo_tui.core.settings.config import ConfigError, RunConfig
from grpo_tui.trainer import rewards as R
from grpo_tui.trainer.rewards import builtin, registry


def _user_file(tmp_path, body: str, name: str = "my_rewards.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def _refusal(spec: str) -> tuple[str, str, str]:
    with pytest.raises(ConfigError) as info:
        R.validate_reward_specs(RunConfig(rewards=[spec]))
    return info.value.field, info.value.reason, info.value.fix


# -- loading a user's reward function ----------------------------------------------------------
def test_load_refusals_word_for_word(tmp_path):
    with pytest.raises(ConfigError) as info:
        R.load_user_reward("my_rewards.py:")
    assert (info.value.field, info.value.reason, info.value.fix) == (
        "rewards", "'my_rewards.py:' is not path/file.py:func or module:func", "")
    gone = tmp_path / "gone.py"
    assert _refusal(f"{gone}:f") == ("rewards", f"reward file {gone} does not exist", "give an existing .py path")
    # a path is a path with or without the .py suffix, and with either slash
    assert _refusal(f"{tmp_path}/gone:f")[1] == f"reward file {tmp_path}/gone does not exist"
    assert _refusal("sub\\gone:f")[1] == "reward file sub\\gone does not exist"
    path = _user_file(tmp_path, "import not_a_module_xyz\n")
    assert _refusal(f"{path}:f") == (
        "rewards", f"cannot import {path}: ModuleNotFoundError: No module named 'not_a_module_xyz'",
        "fix the module or the path")
    path = _user_file(tmp_path, "raise KeyError()\n", "empty_error.py")  # an exception without a message
    assert _refusal(f"{path}:f")[1] == f"cannot import {path}: KeyError: "
    path = _user_file(tmp_path, "raise ValueError('first line\\nsecond line')\n", "two_lines.py")
    assert _refusal(f"{path}:f")[1] == f"cannot import {path}: ValueError: first line"
    path = _user_file(tmp_path, "g = 1\n", "no_f.py")
    assert _refusal(f"{path}:f") == ("rewards", f"{path} has no function 'f'", "check the name after ':'")
    assert _refusal(f"{path}:g") == ("rewards", f"{path}:g is not callable", "")
    path = _user_file(tmp_path, "def f(completions):\n    return [0.0] * len(completions)\n", "no_kwargs.py")
    assert _refusal(f"{path}:f") == (
        "rewards", f"{path}:f must accept (prompts, completions, completion_ids=None, **kwargs)",
        "add the missing parameters")


def test_a_module_name_with_a_dot_is_a_module_not_a_file():
    # "os.path:join" is module os.path (no slash, no .py): imported, found, then refused for its signature
    assert _refusal("os.path:join")[1] == "os.path:join must accept (prompts, completions, completion_ids=None, **kwargs)"


@pytest.mark.parametrize("signature", [
    "def f(*args, **kwargs)",                      # positional catch-all instead of a completions name
    "def f(prompts, completions, **kwargs)",
])
def test_accepted_signatures(tmp_path, signature):
    path = _user_file(tmp_path, f"{signature}:\n    return [0.5] * 3\n")
    func = R.load_user_reward(f"{path}:f")
    assert func(prompts=["q"] * 3, completions=["a", "b", "c"]) == [0.5] * 3


def test_a_loaded_file_is_a_registered_module(tmp_path):
    path = _user_file(tmp_path, "import sys\ndef f(completions, **kw):\n    return [float(__name__ in sys.modules)] * 3\n")
    func = R.load_user_reward(f"{path}:f")
    assert func.__module__.startswith("grpo_tui_user_reward_") and sys.modules[func.__module__].f is func
    assert func(completions=["a", "b", "c"]) == [1.0, 1.0, 1.0]


def test_a_builtin_without_a_signature_is_taken_as_is():
    # inspect.signature cannot read some C functions: nothing to check, the probe call decides
    func = R.load_user_reward("builtins:getattr")
    assert func is getattr


def test_a_signature_with_completions_among_more_names(tmp_path):
    path = _user_file(tmp_path, "def f(completions, answer=None, **kw):\n    return [1.0] * len(completions)\n")
    assert R.load_user_reward(f"{path}:f")(completions=["a"]) == [1.0]


# -- the probe batch and the probe call --------------------------------------------------------
def test_probe_batch_is_what_trl_passes():
    cfg = RunConfig(max_steps=7)
    b = registry.probe_batch(cfg)
    assert b["prompts"] == ["What is 2+2?"] * 3
    assert b["completions"] == ["<think>2+2 is 4</think><answer>4</answer>", "<answer>5</answer>", ""]
    # one id per whitespace word, plus one (the EOS), counting from 1
    assert b["completion_ids"] == [[1, 2, 3, 4], [1, 2], [1]]
    assert b["answer"] == ["4"] * 3
    s = b["trainer_state"]
    assert (s.global_step, s.max_steps, s.epoch) == (0, 7, 0.0)
    assert b["log_extra"]("x", k=1) is None and b["log_metric"]("x", 1.0) is None
    assert sorted(b) == ["answer", "completion_ids", "completions", "log_extra", "log_metric", "prompts",
                         "trainer_state"]


@pytest.mark.parametrize("body, reason, fix", [
    ("def f(completions, **kw):\n    raise KeyError('solution')\n",
     "{spec} failed on a probe batch of 3 completions: KeyError: 'solution'",
     "it is called as TRL calls it: f(prompts, completions, completion_ids, answer=..., **kwargs), "
         "completions as plain strings (prompt_form text)"),
    ("def f(completions, **kw):\n    raise RuntimeError('x' * 300)\n",
     "{spec} failed on a probe batch of 3 completions: RuntimeError: " + "x" * 200,
     "it is called as TRL calls it: f(prompts, completions, completion_ids, answer=..., **kwargs), "
         "completions as plain strings (prompt_form text)"),
    ("def f(completions, **kw):\n    raise RuntimeError()\n",
     "{spec} failed on a probe batch of 3 completions: RuntimeError: ",
     "it is called as TRL calls it: f(prompts, completions, completion_ids, answer=..., **kwargs), "
         "completions as plain strings (prompt_form text)"),
    ("def f(completions, **kw):\n    return 1.0\n", "{spec} returned float, not a list",
     "return one float per completion (3 here)"),
    ("def f(completions, **kw):\n    return [1.0]\n", "{spec} returned 1 value(s) for 3 completions",
     "return one float (or None) per completion"),
    ("def f(completions, **kw):\n    return [0.0, None, 'x' * 50]\n", "{spec} returned str " + repr("x" * 40)
     + " for a completion", "return a float (or None to skip) per completion"),
    ("def f(completions, **kw):\n    return [True, 0.0, 0.0]\n", "{spec} returned bool 'True' for a completion",
     "return a float (or None to skip) per completion"),
    ("def f(completions, **kw):\n    return [0.0, 0.0, float('-inf')]\n", "{spec} returned an infinite reward",
     "return finite floats"),
])
def test_probe_refusals_word_for_word(tmp_path, body, reason, fix):
    spec = f"{_user_file(tmp_path, body)}:f"
    assert _refusal(spec) == ("rewards", reason.format(spec=spec), fix)


def test_probe_returns_the_values_and_checks_every_one(tmp_path):
    path = _user_file(tmp_path, "def f(completions, **kw):\n    return [None, 1, 0.5]\n")
    cfg = RunConfig()
    assert registry.probe_reward(R.load_user_reward(f"{path}:f"), "spec", cfg) == [None, 1, 0.5]


def test_probe_time_limit_on_the_main_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "PROBE_TIMEOUT_S", 1)
    path = _user_file(tmp_path, "import time\ndef f(completions, **kw):\n    time.sleep(5)\n    return [0.0] * 3\n")
    before = signal.getsignal(signal.SIGALRM)
    assert _refusal(f"{path}:f")[1] == f"{path}:f failed on a probe batch of 3 completions: " \
                                       "TimeoutError: no answer within 1 s"
    assert signal.getsignal(signal.SIGALRM) is before  # the handler is put back
    assert signal.alarm(0) == 0  # and no alarm is left pending


def test_probe_off_the_main_thread_uses_no_alarm(tmp_path):
    # signal.signal raises off the main thread: the probe must not touch signals there
    path = _user_file(tmp_path, "def f(completions, **kw):\n    return [0.25] * 3\n")
    func = R.load_user_reward(f"{path}:f")
    got: list = []
    t = threading.Thread(target=lambda: got.append(registry.probe_reward(func, "spec", RunConfig())))
    t.start()
    t.join(10)
    assert got == [[0.25] * 3]


# -- the highest total and format dominance ----------------------------------------------------
@pytest.mark.parametrize("rewards, weights, total", [
    (["format_strict", "format_soft", "correctness", "overlong_penalty", "repetition_penalty"],
     [1, 1, 2, 1, 0.5], 3.0),                      # 0.5 + 0.5 + 2 x 1; penalties pay at most 0
    (["correctness", "format"], None, 2.0),         # unweighted: 1 each
    (["correctness", "format_strict"], [2, -1], 2.0),   # a negative weight adds nothing to the maximum
    (["correctness", "format_soft"], [0.5, 3], 2.0),
    (["correctness", "my.py:f"], None, None),       # a user function's maximum is unknown
])
def test_max_total_reward(rewards, weights, total):
    assert R.max_total_reward(RunConfig(rewards=rewards, reward_weights=weights)) == total


@pytest.mark.parametrize("rewards, weights, warning", [
    (["format_strict", "format_soft", "correctness"], [2, 1, 1], "1.5 but correctness only 1"),
    (["format_strict", "format_soft", "correctness"], None, None),           # 1.0 vs 1.0: not more
    (["format", "format_strict", "correctness"], None, "1.5 but correctness only 1"),  # unweighted: 1 each
    (["format", "correctness"], [1, 0.5], "1 but correctness only 0.5"),
    (["format", "correctness"], [-1, 0.5], None),                           # a negative weight pays nothing
    (["format_strict", "correctness"], [0.5, 0.2], "0.25 but correctness only 0.2"),
    (["format_strict", "correctness"], [0.5, -2], None),                   # no positive correctness at all
    (["format_strict"], None, None),
])
def test_format_dominance_warning(rewards, weights, warning):
    got = R.format_dominance_warning(RunConfig(rewards=rewards, reward_weights=weights))
    if warning is None:
        assert got is None
    else:
        assert got == (f"format rewards can pay {warning}: the model can profit more from the layout than "
                       "from the answer -- lower the format weights in reward_weights")


# -- the lenient format component --------------------------------------------------------------
@pytest.mark.parametrize("text, score", [
    ("<answer>4</answer>", 1.0),                           # reasoning optional
    ("<think>a\nb</think>\n<answer>4</answer>\n", 1.0),    # reasoning over lines
    ("<answer>4", 0.25),                                   # one tag present once
    ("4</answer>", 0.25),
    ("<answer>4</answer> and more", 0.5),                  # both tags once, not the whole text
    ("<answer>4</answer><answer>5</answer>", 0.0),         # each tag twice: no partial credit
    ("<answer>4</answer></answer>", 0.25),
    ("<answer><answer>4</answer>", 0.25),
])
def test_format_partial_credit(text, score):
    (f,), _ = R.build_reward_funcs(RunConfig(rewards=["format"]))
    assert f(prompts=["q"], completions=[text]) == [score]


def test_format_reads_the_configured_tags_and_the_reasoning_field():
    cfg = RunConfig(rewards=["format"], reasoning_start="<r>", reasoning_end="</r>", solution_start="<s>",
                    solution_end="</s>")
    (f,), _ = R.build_reward_funcs(cfg)
    chat = [{"role": "assistant", "reasoning_content": "why", "content": "<s>4</s>"}]
    assert f(prompts=["q"] * 3, completions=["<r>x</r><s>4</s>", "</r><s>4</s>", chat]) == [1.0, 1.0, 1.0]
    assert f(prompts=["q"], completions=["<answer>4</answer>"]) == [0.0]


def test_completion_text_runs_reasoning_and_content_together():
    chat = [{"role": "assistant", "reasoning_content": "why", "content": "<answer>4</answer>"}, {"content": "!"}]
    assert builtin.completion_text(chat) == "why<answer>4</answer>!"
    assert R.completion_text("plain") == "plain"


# -- the gold column of a local dataset, in each layout ----------------------------------------
def _gold_refusal(tmp_path, name: str, body: str) -> str | None:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    try:
        R.validate_reward_specs(RunConfig(dataset=str(path), rewards=["correctness"]))
    except ConfigError as exc:
        assert exc.field.startswith("dataset column")
        return f"{exc.field}: {exc.reason}"
    return None


@pytest.mark.parametrize("name, body, refusal", [
    ("d.jsonl", '{"answer": "4"}\n\n[1, 2]\n', "'answer': {path}: row 2 has no gold answer"),  # a non-object row
    ("d.json", '[{"answer": "4"}, 5]', "'answer': {path}: row 2 has no gold answer"),
    ("d.json", '{"data": [{"solution": "4"}, {"solution": null}]}', "'solution': {path}: row 2 has no gold answer"),
    ("d.json", '{"question": ["a", "b"], "answer": ["4"]}', "'answer': {path}: row 2 has no gold answer"),
    ("d.json", '{"question": ["a", "b"], "answer": ["4", NaN]}', "'answer': {path}: gold answer (row 2) is nan"),
    ("d.json", '{"question": ["a", "b"], "answer": ["4", "5"]}', None),     # columns of equal length: fine
    ("d.json", '{"answer": "4"}', None),              # neither rows nor columns: left to the loader
    ("d.json", '{"answer": 4, "question": ["q"]}', None),
    ("d.json", '"just text"', None),
    ("d.json", '{}', None),
    ("D.JSON", '[{"answer": "4"}, {"answer": null}]', "'answer': {path}: row 2 has no gold answer"),
    ("d.json", '[{"answer": "\u00bd"}, {"answer": null}]', "'answer': {path}: row 2 has no gold answer"),  # UTF-8
    ("d.csv", 'question,answer\nq,"4\n5"\nq2,\n', "'answer': {path}: row 2 has no gold answer"),  # quoted newline
    ("d.csv", "question,answer\nq,\u00bd\nq2,\n", "'answer': {path}: row 2 has no gold answer"),
    ("d.jsonl", '{"answer": "\u00bd"}\n{"answer": null}\n', "'answer': {path}: row 2 has no gold answer"),
    ("d.json", "[{not json", None),                    # unreadable: the loader reports it in its own words
])
def test_gold_column_layouts(tmp_path, name, body, refusal):
    got = _gold_refusal(tmp_path, name, body)
    assert got == (None if refusal is None else "dataset column " + refusal.format(path=tmp_path / name))


def test_more_load_refusals(tmp_path, monkeypatch):
    # **kwargs alone is not enough: the function must take completions (or *args)
    path = _user_file(tmp_path, "def f(prompts, **kw):\n    return [0.0] * 3\n", "no_completions.py")
    assert _refusal(f"{path}:f")[1] == f"{path}:f must accept (prompts, completions, completion_ids=None, **kwargs)"
    # a file Python has no loader for (not .py): refused by name, without an exception's text
    text = tmp_path / "rewards.txt"
    text.write_text("def f(completions, **kw):\n    return [0.0] * 3\n")
    assert _refusal(f"{text}:f") == ("rewards", f"cannot import {text}", "")
    # a relative name ending in .py is a file (looked up from the working directory), not a module
    monkeypatch.chdir(tmp_path)
    assert _refusal("nowhere_xyz.py:f") == ("rewards", "reward file nowhere_xyz.py does not exist",
                                            "give an existing .py path")


def test_a_path_with_a_colon_splits_at_the_last_one(tmp_path):
    folder = tmp_path / "with:colon"
    folder.mkdir()
    path = _user_file(folder, "def f(completions, **kw):\n    return [0.75] * len(completions)\n")
    assert R.load_user_reward(f"{path}:f")(completions=["a"]) == [0.75]


def test_two_reward_files_are_two_modules(tmp_path):
    # each file gets its own module name (pickling a reward for worker processes goes by it)
    a = R.load_user_reward(_user_file(tmp_path, "def f(completions, **kw):\n    return [1.0]\n", "a.py") + ":f")
    b = R.load_user_reward(_user_file(tmp_path, "def f(completions, **kw):\n    return [2.0]\n", "b.py") + ":f")
    assert a.__module__ != b.__module__
    assert sys.modules[a.__module__].f is a and sys.modules[b.__module__].f is b
