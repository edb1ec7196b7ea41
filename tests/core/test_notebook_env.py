"""The one evaluator of notebook values (core.settings.notebook_env.Env): the GRPO settings read it as the
notebook stands, the SFT stage as of the statement that uses a value. Before, the SFT stage had its own
substitution pass (notebook_sft._at); each case marked "SFT" or "GRPO" below is one only one of the two
evaluators got right."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from grpo_tui.cli import main
from grpo_tui.core.planning.presets import parse_preset
from grpo_tui.core.settings.notebook_env import MISSING, Env
from notebook_cells import CELLS, MODEL, REWARDS, SFT, TRAIN, write_notebook


def _replay(*cells: str, outputs: dict[tuple[int, int], tuple[str, object]] | None = None) -> Env:
    env = Env()
    for c, text in enumerate(cells):
        for p, stmt in enumerate(ast.parse(text).body):
            env.assign(stmt, c, p)
            if outputs and (c, p) in outputs:
                env.bind(*outputs[(c, p)], c)
    return env


def _v(env: Env, expr: str, where=None):
    return env.value(ast.parse(expr, mode="eval").body, where)


def test_a_value_is_read_as_of_a_statement_before_it_runs():
    env = _replay("lr = 1e-4\ncfg = make(lr)\n", "lr = 5e-6\n")
    assert _v(env, "lr", (0, 1)) == 1e-4  # the SFT cell's rate
    assert _v(env, "lr") == 5e-6  # the notebook's last: what GRPO reads
    assert _v(env, "lr", (0, 0)) is MISSING  # not yet set at its own statement
    assert _v(env, "lr * 2", (1, 0)) == 2e-4 and _v(env, "lr", (1, 1)) == 5e-6


@pytest.mark.parametrize("later", [
    "for lr in rates:\n    pass\n",
    "lr += bump\n",  # bump is not a literal
    "print(lr := pick())\n",  # GRPO: the plain evaluator skipped an expression statement's walrus
    "with ctx() as lr:\n    pass\n",
    "import lr\n",
])
def test_a_name_bound_otherwise_is_not_its_earlier_literal(later):
    env = _replay("lr = 1e-4\n", later)
    assert _v(env, "lr") is MISSING and _v(env, "lr", (1, 0)) == 1e-4
    assert env.unresolved["lr"].startswith(("lr: set at run time in cell 1", "lr = lr + bump"))


@pytest.mark.parametrize("later, value", [
    ("lr *= 2\n", 2e-4),  # SFT: _at took any augmented assignment as computed
    ("lr, bs = 3e-4, 2\n", 3e-4),  # SFT: a tuple of literals
    ("lr: float = 4e-4\n", 4e-4),  # SFT: annotated
    ("lr = other = 5e-4\n", 5e-4),  # SFT: chained
    ("if True:\n    lr = 6e-4\n", 6e-4),  # SFT: the branch that runs
    ("if False:\n    lr = 1.0\n", 1e-4),  # SFT: the branch that never runs binds nothing
    ("rows = [lr for lr in range(3)]\n", 1e-4),  # GRPO: a comprehension's variable is its own
    ("for x in xs:\n    def f(lr):\n        lr = 0\n", 1e-4),  # GRPO: a function's locals are its own
    ("if False:\n    print(lr := 0)\n", 1e-4),
])
def test_a_literal_rebinding_is_followed_and_what_does_not_bind_is_not_one(later, value):
    env = _replay("lr = 1e-4\n", later)
    assert _v(env, "lr") == pytest.approx(value)


def test_a_value_taken_from_a_cells_output_counts_from_that_statement_on():
    env = _replay("n = len(rows)\nprint('N =', n)\n", outputs={(0, 0): ("n", 37)})
    assert _v(env, "n", (0, 0)) is MISSING and _v(env, "n", (0, 1)) == 37


# -- through `grpo-tui import` ------------------------------------------------------------------
def _import(tmp_path: Path, cells: list[str], outputs: dict[int, str] | None = None) -> tuple[Path, str]:
    out = tmp_path / "a.toml"
    assert main(["import", str(write_notebook(tmp_path / "a.ipynb", cells, outputs)), "-o", str(out)]) == 0
    return out, out.read_text()


def _sft(before: str, *changes: tuple[str, str]) -> list[str]:
    sft = SFT.replace("from trl import SFTTrainer", before + "from trl import SFTTrainer")
    for old, new in changes:
        assert old in sft, old
        sft = sft.replace(old, new)
    return [sft if c is SFT else c for c in CELLS]


@pytest.mark.parametrize("before, changes, key, value", [
    ("bs, accum = 2, 4\n", (("per_device_train_batch_size = 1, gradient_accumulation_steps = 2",
                              "per_device_train_batch_size = bs, gradient_accumulation_steps = accum"),),
     "warmstart_batch_size", 8),
    ("lr: float = 1e-4\n", (("learning_rate = 2e-4", "learning_rate = lr"),), "warmstart_learning_rate", 1e-4),
    ("steps = 10\nsteps *= 3\n", (("num_train_epochs = 2,", "max_steps = steps,"),), "warmstart_steps", 30),
    ("lr = 3e-4\nif False:\n    lr = 1.0\n", (("learning_rate = 2e-4", "learning_rate = lr"),),
     "warmstart_learning_rate", 3e-4),
])
def test_the_sft_stage_reads_literal_rebindings_the_grpo_settings_always_read(tmp_path, before, changes, key, value):
    """Each was refused as computed before ("its ... is computed"): the SFT stage's own evaluator took only
    `name = expr`."""
    out, text = _import(tmp_path, _sft(before, *changes))
    assert getattr(parse_preset(out, "user").config, key) == value, text
    assert "carried as the format warm start" in text


@pytest.mark.parametrize("before", [
    "lr = 2e-4\nfor lr in (1e-4, 5e-5):\n    pass\n",
    "lr = 2e-4\nlr += len(dataset) * 1e-9\n",
    "lr = 2e-4\nprint(lr := pick_rate())\n",
])
def test_an_sft_rate_bound_otherwise_before_the_stage_is_refused_not_its_earlier_literal(tmp_path, before):
    out, text = _import(tmp_path, _sft(before, ("learning_rate = 2e-4", "learning_rate = lr")))
    assert "not carried (its learning rate is computed)" in text
    assert "\nwarmstart_" not in text


def test_an_sft_value_the_cell_printed_is_taken_from_its_saved_output_and_said(tmp_path):
    before = "sft_steps = len(dataset) // 16\nprint(\"SFT steps =\", sft_steps)\n"
    out, text = _import(tmp_path, _sft(before, ("num_train_epochs = 2,", "max_steps = sft_steps,")),
                        outputs={2: "SFT steps = 37\n"})
    assert parse_preset(out, "user").config.warmstart_steps == 37
    assert "sft_steps = 37: computed from the data in cell 2" in text


def test_a_walrus_rebinding_a_grpo_setting_is_not_its_earlier_literal(tmp_path):
    model = MODEL.replace("model = FastLanguageModel.get_peft_model",
                          "print(lora_rank := pick())\nmodel = FastLanguageModel.get_peft_model")
    out, text = _import(tmp_path, [model, REWARDS.replace("tag in", "'x' in"), TRAIN])
    assert "r (cell 0, get_peft_model): computed, not a literal (lora_rank: set at run time in cell 0" in text


@pytest.mark.parametrize("expr, value", [
    ("not USE", False), ("USE and MODE == 'sft'", True), ("MODE != 'sft' or N", 3), ("1 < N <= 3", True),
    ("MODE in ('sft', 'grpo')", True), ("N is None", False),
    ("0 and unknown", 0),  # read only as far as Python would run it
    ("1 / 0", MISSING), ("MODE < 1", MISSING), ("unknown or USE", MISSING),  # Python would raise: not a literal
])
def test_tests_over_literals_are_read_as_python_would(expr, value):
    env = _replay("USE = True\nMODE = 'sft'\nN = 3\n")
    assert _v(env, expr) == value if value is not MISSING else _v(env, expr) is MISSING


@pytest.mark.parametrize("test, lr", [("USE", 2e-4), ("not USE", 1e-4), ("unknown", MISSING)])
def test_an_if_over_a_known_test_binds_from_the_branch_that_runs(test, lr):
    env = _replay("USE = True\nlr = 1e-4\n", f"if {test}:\n    lr = 2e-4\n")
    assert _v(env, "lr") == lr if lr is not MISSING else _v(env, "lr") is MISSING


@pytest.mark.parametrize("src", ["x = 9 ** 9 ** 9\n", "x = '=' * 10 ** 13\n", "x = [0] * 10 ** 13\n"])
def test_a_value_too_big_to_be_a_setting_is_not_computed(src):
    """The importer never runs the notebook; it must not hang or run out of memory reading one either
    (in a child process, so that a regression fails here in 30 s instead of hanging the suite)."""
    code = ("import ast\nfrom grpo_tui.core.settings.notebook_env import MISSING, Env\nenv = Env()\n"
            f"env.assign(ast.parse({src!r}).body[0])\n"
            "assert env.value(ast.Name('x', ast.Load())) is MISSING\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr[-2000:]


def test_small_powers_and_repetitions_still_are():
    env = _replay("x = 2 ** 10\nsep = '-' * 20\nneg = (-1) ** 100001\n")
    assert (_v(env, "x"), _v(env, "sep"), _v(env, "neg")) == (1024, "-" * 20, -1)
