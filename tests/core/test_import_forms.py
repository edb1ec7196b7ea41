"""Notebook forms `grpo-tui import` once passed over without a word (an attack report on the importer):
each is now read as the notebook runs it, or said in one line. The notebooks are the shapes of
tests/notebook_cells.py, changed one form at a time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from grpo_tui.cli import main
from grpo_tui.core.planning.presets import parse_preset
from grpo_tui.core.settings.notebook_aliases import unalias
from notebook_cells import CELLS, SFT, write_notebook

WARM = ("warmstart_dataset", "warmstart_dataset_config", "warmstart_dataset_split", "warmstart_steps", "warmstart_epochs",
        "warmstart_batch_size", "warmstart_learning_rate", "warmstart_numeric_answers", "warmstart_max_tokens")


def _import(tmp_path: Path, cells: list[str], name: str = "a") -> tuple[Path, str]:
    out = tmp_path / f"{name}.toml"
    assert main(["import", str(write_notebook(tmp_path / f"{name}.ipynb", cells)), "-o", str(out)]) == 0
    return out, out.read_text()


def _changed(cells: list[str], *changes: tuple[str, str]) -> list[str]:
    joined = "\0".join(cells)
    for old, new in changes:
        assert old in joined, old
        joined = joined.replace(old, new)
    return joined.split("\0")


def _settings(out: Path) -> dict:
    """The preset's settings, less its name, its description and where its rewards file is."""
    cfg = parse_preset(out, "user").config
    got = {k: v for k, v in vars(cfg).items() if not k.startswith("_") and k not in ("name", "description")}
    got["rewards"] = [r.rsplit(":", 1)[1] for r in got.get("rewards") or []]
    return got


# -- (a) imports renamed with `as` -------------------------------------------------------------------
def test_calls_imported_under_another_name_are_read_as_the_names_they_stand_for(tmp_path):
    plain, _ = _import(tmp_path, CELLS, "plain")
    aliased = _changed(
        CELLS,
        ("from trl import SFTTrainer, SFTConfig", "from trl import SFTTrainer as T, SFTConfig as C"),
        ("trainer = SFTTrainer(", "trainer = T("), ("args = SFTConfig(", "args = C("),
        ("from datasets import load_dataset, Dataset", "from datasets import load_dataset as ld, Dataset"),
        ('dataset = load_dataset("unsloth/OpenMathReasoning-mini"', 'dataset = ld("unsloth/OpenMathReasoning-mini"'),
        ("from unsloth import FastLanguageModel", "from unsloth import FastLanguageModel as FLM"),
        ("= FastLanguageModel.", "= FLM."),
        ("from trl import GRPOConfig, GRPOTrainer", "from trl import GRPOConfig as GC, GRPOTrainer as GT"),
        ("training_args = GRPOConfig(", "training_args = GC("), ("trainer = GRPOTrainer(", "trainer = GT("),
    )
    out, text = _import(tmp_path, aliased, "aliased")
    got, want = _settings(out), _settings(plain)
    assert got == want, text
    assert got["warmstart_dataset"] == "unsloth/OpenMathReasoning-mini" and got["learning_rate"] == 5e-6
    assert "carried as the format warm start" in text


@pytest.mark.parametrize("src, renames", [
    ("from trl import SFTTrainer as T\nT()\n", {"T": "SFTTrainer"}),
    # the notebook's own SFTTrainer subclasses trl's: folding Base into it would make it its own base
    ("from trl import SFTTrainer as Base\nclass SFTTrainer(Base):\n    pass\n", {}),
    # one alias for two names: which one a call means depends on where it is
    ("from trl import SFTConfig as C\nC()\nfrom trl import GRPOConfig as C\nC()\n", {}),
    ("from re import compile as rc\nrc('x')\n", {}),  # not the training stack: a reward may use it as written
])
def test_only_the_stacks_unambiguous_aliases_are_undone(src, renames):
    tree = ast.parse(src)
    assert unalias([tree]) == renames
    if renames:
        assert "T" not in ast.unparse(tree).replace("SFTTrainer", "")
    else:
        assert ast.unparse(tree) == ast.unparse(ast.parse(src))


# -- (b) an SFT stage under `if USE_SFT:` -------------------------------------------------------------
def _under_if(test: str, before: str) -> list[str]:
    body = "".join("    " + line if line.strip() else line for line in SFT.splitlines(keepends=True))
    return [before + f"if {test}:\n" + body if c is SFT else c for c in CELLS]


@pytest.mark.parametrize("before, test", [
    ("USE_SFT = True\n", "USE_SFT"),
    ("MODE = 'sft'\nSKIP = False\n", "MODE == 'sft' and not SKIP"),
    ("USE_SFT = 0\n", "USE_SFT:\n    pass\nelif True"),  # an elif branch that runs
])
def test_an_sft_stage_under_a_test_known_true_runs_as_written(tmp_path, before, test):
    plain, _ = _import(tmp_path, CELLS, "plain")
    out, text = _import(tmp_path, _under_if(test, before), "under_if")
    got, want = _settings(out), _settings(plain)
    assert {k: got[k] for k in WARM} == {k: want[k] for k in WARM}, text
    assert got["warmstart_epochs"] == 2.0 and "carried as the format warm start" in text


def test_an_sft_stage_under_a_test_known_false_never_runs(tmp_path):
    out, text = _import(tmp_path, _under_if("USE_SFT", "USE_SFT = False\n"))
    assert "\nwarmstart_" not in text and "carried as the format warm start" not in text
    assert parse_preset(out, "user").config.dataset == "open-r1/DAPO-Math-17k-Processed"  # the GRPO set still is


@pytest.mark.parametrize("cells, said", [
    (_under_if("USE_SFT", "import os\nUSE_SFT = os.environ.get('SFT') == '1'\n"), "`USE_SFT`"),
    (_under_if("USE_SFT", ""), "`USE_SFT`"),  # never set at all
    # made at top level, trained only when a computed test holds
    (_changed(CELLS, ('"linear"))\ntrainer.train()\n', '"linear"))\nif len(dataset) > 100:\n    trainer.train()\n')),
     "`len(dataset) > 100`"),
])
def test_an_sft_stage_under_a_test_not_known_is_said_in_one_line(tmp_path, cells, said):
    out, text = _import(tmp_path, cells)
    assert (f"SFT stage (cell 2, SFTTrainer): it runs only if {said}, which is not a literal before it; "
            "not carried") in text, text
    assert "\nwarmstart_" not in text


# -- (c) a streamed set --------------------------------------------------------------------------------
@pytest.mark.parametrize("streaming", ["True", "STREAM"])  # STREAM = True in the cell before
def test_a_streamed_sft_set_is_carried_and_its_whole_download_said(tmp_path, streaming):
    cells = _changed(CELLS, ('split = "cot")', f'split = "cot", streaming = {streaming})'),
                     ("from datasets import load_dataset, Dataset", "STREAM = True\nfrom datasets import load_dataset, Dataset"))
    out, text = _import(tmp_path, cells)
    assert _settings(out)["warmstart_dataset_split"] == "cot"
    assert (f"SFT stage (cell 2, load_dataset): streaming = {streaming} -- the warm start downloads the split whole "
            "before it reads it") in text


def test_a_streamed_grpo_set_is_carried_and_its_whole_download_said(tmp_path):
    cells = _changed(CELLS, ('"en", split = "train")', '"en", split = "train", streaming = True)'))
    out, text = _import(tmp_path, cells)
    assert _settings(out)["dataset"] == "open-r1/DAPO-Math-17k-Processed"
    assert "dataset (cell 3, load_dataset): streaming = True -- grpo-tui downloads the split whole" in text


def test_a_set_not_streamed_says_nothing_of_it(tmp_path):
    _, text = _import(tmp_path, _changed(CELLS, ('split = "cot")', 'split = "cot", streaming = False)')))
    assert "streaming" not in text


# -- (d) a lower bound in the SFT token filter ---------------------------------------------------------------
CAP = 'dataset = dataset.loc[dataset["N"] <= max_seq_length / 2].copy()'


@pytest.mark.parametrize("cap, low", [
    ('dataset = dataset.loc[(dataset["N"] > 10) & (dataset["N"] <= max_seq_length / 2)].copy()', "dataset['N'] > 10"),
    ('dataset = dataset.loc[(10 <= dataset["N"]) & (max_seq_length / 2 >= dataset["N"])].copy()',
     "dataset['N'] >= 10"),
    ('dataset = dataset.loc[10 < dataset["N"] <= max_seq_length / 2].copy()', "dataset['N'] > 10"),  # chained
    ('L = dataset["N"]\ndataset = dataset.loc[(L > 10) & (L <= max_seq_length / 2)].copy()', "L > 10"),  # a name
])
def test_a_lower_length_bound_is_said_and_the_cap_beside_it_still_carried(tmp_path, cap, low):
    out, text = _import(tmp_path, _changed(CELLS, (CAP, cap)))
    assert _settings(out)["warmstart_max_tokens"] == 1024, text
    assert (f"SFT stage (cell 2): the length filter {low} keeps only rows above that many tokens; the warm start "
            "has no lower bound") in text


def test_a_cap_read_through_a_name_is_carried_and_one_on_another_name_is_not(tmp_path):
    out, text = _import(tmp_path, _changed(CELLS, (CAP, 'L = dataset["N"]\ndataset = dataset.loc[L < 512].copy()')))
    assert _settings(out)["warmstart_max_tokens"] == 511 and "lower bound" not in text
    out, text = _import(tmp_path, _changed(CELLS, (CAP, 'L = dataset["N"]\nL = dataset["problem"].str.len()\n'
                                                        'dataset = dataset.loc[L < 512].copy()')), "b")
    assert _settings(out)["warmstart_max_tokens"] == 0  # L counts characters of the problem by then


# -- a stage inside a block the importer does not read -----------------------------------------------------
@pytest.mark.parametrize("head", ["try:", "for seed in (1, 2):", "with open('log.txt', 'w') as log:"])
def test_an_sft_stage_inside_a_loop_with_or_try_is_said_not_dropped(tmp_path, head):
    body = "".join("    " + line if line.strip() else line for line in SFT.splitlines(keepends=True))
    tail = "except Exception:\n    pass\n" if head == "try:" else ""
    out, text = _import(tmp_path, [f"{head}\n{body}{tail}" if c is SFT else c for c in CELLS])
    assert f"SFT stage (cell 2, SFTTrainer): inside `{head}`; not carried" in text, text
    assert "\nwarmstart_" not in text
