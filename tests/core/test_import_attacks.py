"""Attacks on two `grpo-tui import` features: the SFT stage carried as the format warm start
(core.settings.notebook_sft, trainer.warmstart) and the tokenizer added-vocab loop copied into the rewards
file (notebook_import._rewards / _closure, trainer.rewards.notebook_tokenizer).

Each test is a notebook shape on which the importer once carried a wrong value silently, half-carried a
stage, copied code that did not import, or crashed; or a shape whose one-line refusal is the right answer.
The notebooks are written here in the shapes of tests/notebook_cells.py; none is a copy of Unsloth's."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from grpo_tui.cli import main
from grpo_tui.core.planning.presets import parse_preset
from notebook_cells import CELLS, MODEL, SFT, write_notebook

REFUSED = "SFT stage (cell 2, SFTTrainer): the notebook fine-tunes the format with SFT before GRPO; not carried ("


def _import(tmp_path: Path, cells: list[str], name: str = "a") -> tuple[Path, str]:
    out = tmp_path / f"{name}.toml"
    assert main(["import", str(write_notebook(tmp_path / f"{name}.ipynb", cells)), "-o", str(out)]) == 0
    return out, out.read_text()


def _sft_cells(*changes: tuple[str, str], cells: list[str] | None = None) -> list[str]:
    sft = SFT
    for old, new in changes:
        assert old in sft, old
        sft = sft.replace(old, new)
    return [sft if c is SFT else c for c in (cells or CELLS)]


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"attacked_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _warm(cfg) -> dict:
    return {k: getattr(cfg, k) for k in ("warmstart_dataset", "warmstart_dataset_config", "warmstart_dataset_split",
                                         "warmstart_steps", "warmstart_epochs", "warmstart_batch_size",
                                         "warmstart_learning_rate", "warmstart_numeric_answers", "warmstart_max_tokens")}


LOAD = 'load_dataset("unsloth/OpenMathReasoning-mini", split = "cot")'
CONFIG = ("    args = SFTConfig(per_device_train_batch_size = 1, gradient_accumulation_steps = 2, num_train_epochs = 2,\n"
          "                     learning_rate = 2e-4, warmup_steps = 5, lr_scheduler_type = \"linear\"))")


# -- feature 1: the SFT stage -----------------------------------------------------------------------
@pytest.mark.parametrize("changes, expected", [
    # load_dataset(...)["cot"]: the subscript picks the split (it was carried as "train")
    (((LOAD, 'load_dataset("unsloth/OpenMathReasoning-mini")["cot"]'),), {"warmstart_dataset_split": "cot"}),
    # the config given as name= (it was dropped: the hub would load another config, or refuse)
    (((LOAD, 'load_dataset("openai/gsm8k", name = "main", split = "train")'),),
     {"warmstart_dataset": "openai/gsm8k", "warmstart_dataset_config": "main", "warmstart_dataset_split": "train"}),
    # the dataset given as path= (it was refused as computed)
    (((LOAD, 'load_dataset(path = "unsloth/OpenMathReasoning-mini", split = "cot")'),),
     {"warmstart_dataset": "unsloth/OpenMathReasoning-mini", "warmstart_dataset_split": "cot"}),
    # a sliced split is a split datasets reads as written
    ((('split = "cot"', 'split = "cot[:100]"'),), {"warmstart_dataset_split": "cot[:100]"}),
    # max_steps written as a float still counts steps (it fell back to 3 default epochs)
    ((("num_train_epochs = 2,", "max_steps = 30.0,"),), {"warmstart_steps": 30, "warmstart_epochs": 0.0}),
    ((("num_train_epochs = 2,", "num_train_epochs = 2, max_steps = -1,"),),
     {"warmstart_steps": 0, "warmstart_epochs": 2.0}),
    ((("num_train_epochs = 2,", "num_train_epochs = 0.5,"),), {"warmstart_epochs": 0.5}),
    ((("per_device_train_batch_size = 1", "per_device_train_batch_size = 2 * 2"),), {"warmstart_batch_size": 8}),
    (((r'dataset["N"] <= max_seq_length / 2', 'dataset["N"] < 512'),), {"warmstart_max_tokens": 511}),
    # transformers' TrainingArguments (older notebooks): its own default rate, 5e-5
    ((("SFTConfig(per", "TrainingArguments(per"), ("learning_rate = 2e-4, ", "")),
     {"warmstart_learning_rate": 5e-5, "warmstart_epochs": 2.0}),
    # no args=: TRL builds SFTConfig() itself (batch 8, 2e-5, 3 epochs)
    (((",\n" + CONFIG, ")"),),
     {"warmstart_batch_size": 8, "warmstart_learning_rate": 2e-5, "warmstart_epochs": 3.0, "warmstart_steps": 0}),
])
def test_sft_stage_values_are_the_ones_the_notebook_trains_with(tmp_path, changes, expected):
    out, text = _import(tmp_path, _sft_cells(*changes))
    got = _warm(parse_preset(out, "user").config)
    assert {k: got[k] for k in expected} == expected, text
    assert "SFT stage (cell 2, SFTTrainer) carried as the format warm start" in text


def test_sft_config_assigned_in_another_cell_is_read_there(tmp_path):
    sft = SFT.replace(CONFIG, "    args = sft_args)")
    cells = CELLS[:2] + ["from trl import SFTConfig\nsft_args = SFTConfig(per_device_train_batch_size = 4, "
                         "max_steps = 30, learning_rate = 1e-4)\n", sft] + CELLS[3:]
    out, _ = _import(tmp_path, cells)
    got = _warm(parse_preset(out, "user").config)
    assert (got["warmstart_batch_size"], got["warmstart_steps"], got["warmstart_learning_rate"]) == (4, 30, 1e-4)
    assert got["warmstart_dataset_split"] == "cot" and got["warmstart_max_tokens"] == 1024


def test_a_name_set_again_for_grpo_is_read_as_the_sft_cell_had_it(tmp_path):
    """`lr` and the cap's `max_seq_length` are set again after the SFT stage (for GRPO): the stage trains with
    the values they had then, not the notebook's last ones."""
    cells = _sft_cells(("learning_rate = 2e-4", "learning_rate = lr"), ("from trl import SFTTrainer", "lr = 2e-4\nfrom trl import SFTTrainer"))
    cells = cells[:3] + ["lr = 5e-6\nmax_seq_length = 4096\n"] + cells[3:]
    out, text = _import(tmp_path, cells)
    got = _warm(parse_preset(out, "user").config)
    assert (got["warmstart_learning_rate"], got["warmstart_max_tokens"]) == (2e-4, 1024), text


@pytest.mark.parametrize("changes, numeric, cap", [
    # the length filter is only printed, never applied to the rows
    (((r'dataset = dataset.loc[dataset["N"] <= max_seq_length / 2].copy()' + "\n",
       r'print(len(dataset.loc[dataset["N"] <= 512]))' + "\n"),), True, 0),
    # the lengths count characters of the chat text (tokenize = False), not tokens
    ((("len(tokenizer.apply_chat_template(m))", "len(tokenizer.apply_chat_template(m, tokenize = False))"),), True, 0),
    # return_dict = True: len() counts the dict's keys
    ((("len(tokenizer.apply_chat_template(m))", "len(tokenizer.apply_chat_template(m, return_dict = True))"),), True, 0),
    # the numeric mask is computed and printed, never applied
    ((("dataset = dataset.iloc[np.where(keep)[0]]\n", "print(keep.sum())\n"),), False, 1024),
])
def test_a_filter_that_does_not_keep_rows_by_tokens_is_not_carried_as_one(tmp_path, changes, numeric, cap):
    out, text = _import(tmp_path, _sft_cells(*changes))
    got = _warm(parse_preset(out, "user").config)
    assert (got["warmstart_numeric_answers"], got["warmstart_max_tokens"]) == (numeric, cap), text
    assert got["warmstart_dataset"] == "unsloth/OpenMathReasoning-mini"


@pytest.mark.parametrize("changes, why", [
    ((("num_train_epochs = 2,", "max_steps = n_steps,"), ("from trl import", "n_steps = len(dataset) // 2\nfrom trl import")),
     "its max_steps is computed"),  # it fell back to TRL's 3 epochs
    (((LOAD, 'load_dataset("json", data_files = "rows.jsonl", split = "train")'),),
     "its rows are the notebook's own files"),  # it carried warmstart_dataset = "json"
    (((LOAD, 'load_dataset("csv", data_files = "x.csv")["train"]'),), "its rows are the notebook's own files"),
    (((LOAD, 'load_dataset("/content/my_sft_rows", split = "train")'),),
     "its load_dataset reads /content/my_sft_rows, which is not on this machine"),
    ((('split = "cot"', 'split = ["cot", "tir"]'), ("train_dataset = dataset,", "train_dataset = dataset[0],")),
     "its split is not one split name"),
    ((("num_train_epochs = 2,", "num_train_epochs = 0,"),), "its num_train_epochs is 0 with no max_steps"),
    ((("learning_rate = 2e-4", "learning_rate = 0"),), "its learning rate is 0"),  # the preset did not load
    (((CONFIG, "    args = make_args())"),), "its args = make_args() is not an SFTConfig / TrainingArguments call"),
    # **kwargs: the values are not read (TRL's defaults were carried)
    (((CONFIG, "    args = SFTConfig(**sft_kwargs))"),), "its SFTConfig call takes **kwargs"),
])
def test_an_sft_stage_that_cannot_be_carried_is_refused_in_one_line_and_nothing_half_carried(tmp_path, changes, why):
    out, text = _import(tmp_path, _sft_cells(*changes))
    assert REFUSED + why in text, text
    assert "\nwarmstart_" not in text
    cfg = parse_preset(out, "user").config
    assert cfg.warmstart_steps == 0 and cfg.warmstart_epochs == 0 and not cfg.warmstart_dataset


def test_a_number_test_on_another_column_or_a_computed_cap_is_said_not_carried(tmp_path):
    """pd.to_numeric on a column that is not the answer is not warmstart_numeric_answers (the warm start tests
    the answer); a token cap that is computed is said, not dropped without a word."""
    out, text = _import(tmp_path, _sft_cells(('pd.Series(dataset["expected_answer"])', 'pd.Series(dataset["problem"])'),
                                             ("max_seq_length / 2", "max_seq_length / ratio")))
    got = _warm(parse_preset(out, "user").config)
    assert (got["warmstart_numeric_answers"], got["warmstart_max_tokens"]) == (False, 0)
    assert "keeps rows by a column that is not the answer" in text
    assert "SFT stage (cell 2): the length filter dataset['N'] <= max_seq_length / ratio is computed; not carried" in text


def test_an_sft_stage_after_grpo_is_not_a_warm_start(tmp_path):
    out, text = _import(tmp_path, CELLS[:2] + CELLS[3:] + [SFT])
    assert "SFT stage (cell 8, SFTTrainer): it trains after GRPO; not carried" in text
    assert "\nwarmstart_" not in text


@pytest.mark.parametrize("changes", [
    (("trainer = SFTTrainer(", "if False:\n  trainer = SFTTrainer("), ("\ntrainer.train()", "\n  trainer.train()")),
    (("\ntrainer.train()", "\n"),),  # made, never trained
])
def test_an_sft_stage_that_never_runs_is_not_carried(tmp_path, changes):
    out, text = _import(tmp_path, _sft_cells(*changes))
    assert "\nwarmstart_" not in text and "carried as the format warm start" not in text


def test_unsloth_train_counts_as_training_the_stage(tmp_path):
    out, _ = _import(tmp_path, _sft_cells(("\ntrainer.train()", "\nfrom unsloth import unsloth_train\nunsloth_train(trainer)")))
    assert parse_preset(out, "user").config.warmstart_epochs == 2.0


def test_an_sft_stage_inside_a_function_is_said(tmp_path):
    cells = CELLS[:3] + ["def more_sft():\n    t = SFTTrainer(model = model, train_dataset = dataset, "
                         "args = SFTConfig(max_steps = 9))\n    t.train()\nmore_sft()\n"] + CELLS[3:]
    out, text = _import(tmp_path, cells)
    assert "SFT stage (cell 3, SFTTrainer inside more_sft()): not carried" in text
    assert parse_preset(out, "user").config.warmstart_epochs == 2.0  # the top-level stage still is


@pytest.mark.parametrize("where", ["same cell", "next cell"])
def test_of_two_sft_stages_the_last_is_carried_and_the_earlier_said(tmp_path, where):
    second = ("trainer = SFTTrainer(model = model, train_dataset = ds2, args = SFTConfig(max_steps = 7))\n"
              "trainer.train()\n")
    if where == "same cell":  # the first SFTTrainer of the cell was taken
        cells = _sft_cells(("\ntrainer.train()", "\ntrainer.train()\nds2 = load_dataset('openai/gsm8k', 'main', "
                            "split = 'train')\n" + second))
        earlier = "SFT stage (cell 2, SFTTrainer): an earlier SFT stage; not carried"
    else:  # the first stage was dropped without a word
        cells = CELLS[:3] + ["ds2 = load_dataset('openai/gsm8k', 'main', split = 'train')\n" + second] + CELLS[3:]
        earlier = "SFT stage (cell 2, SFTTrainer): an earlier SFT stage; not carried"
    out, text = _import(tmp_path, cells)
    got = _warm(parse_preset(out, "user").config)
    assert (got["warmstart_dataset"], got["warmstart_dataset_config"], got["warmstart_steps"]) == \
        ("openai/gsm8k", "main", 7)
    assert earlier in text


def test_what_the_warm_start_does_differently_is_said(tmp_path):
    _, text = _import(tmp_path, _sft_cells(("warmup_steps = 5", "warmup_steps = 5, packing = True"),
                                           ("train_dataset = dataset,",
                                            "train_dataset = dataset.train_test_split(test_size = 0.5)[\"test\"],")))
    assert "SFT stage (cell 2, SFTConfig): lr_scheduler_type, packing, warmup_steps -- the warm start uses a constant " \
           "rate, one example a row, no packing, no warm-up" in text
    assert "SFT stage (cell 2): the notebook trains on part of the rows (dataset.train_test_split(test_size=0.5)" \
           "['test'])" in text


@pytest.mark.parametrize("text", ["14", " -2 ", "3.5", "1e3", ".5", "5.", "+5", "inf", "-Infinity", "1_000", "１２",
                                  "\u00a014", "nan", "+nan", "1,000", "0x10", "1/2", "", " inf", "1e", "\t14"])
def test_numeric_answers_are_the_rows_pandas_to_numeric_keeps(text):
    pd = pytest.importorskip("pandas")
    from grpo_tui.trainer.warmstart import numeric

    assert numeric(text) == bool(pd.to_numeric(pd.Series([text]), errors="coerce").notnull()[0])


def test_a_warm_start_path_not_on_this_machine_is_one_line_not_a_traceback(tmp_path):
    from grpo_tui.core.planning.presets import load_preset
    from grpo_tui.trainer import warmstart

    for path in (str(tmp_path / "not_here"), str(tmp_path / "rows.txt")):
        (tmp_path / "rows.txt").write_text("x")
        cfg = load_preset("cpu-smollm2").with_overrides({"warmstart_dataset": path, "warmstart_steps": 3})
        with pytest.raises(warmstart.NoWarmstartExamples, match="is not a folder or a .jsonl/.json/.parquet/.csv"):
            warmstart.example_rows(cfg, chat=True)


# -- feature 2: the tokenizer's added-vocab loop ------------------------------------------------------
TRAIN = ("from trl import GRPOConfig, GRPOTrainer\nargs = GRPOConfig(output_dir = 'o', max_prompt_length = 128,"
         " max_completion_length = 256)\n"
         "trainer = GRPOTrainer(model = model, reward_funcs = [tagged, plain], args = args, train_dataset = None)\n")
REWARDS = ("def tagged(completions, **kwargs):\n    return [1.0 if tag in c[0]['content'] else 0.0 for c in completions]\n"
           "def plain(completions, **kwargs):\n    return [0.5 for c in completions]\n")
LOOP = "for token in tokenizer.get_added_vocab().keys():\n    if 'think' in token:\n        tag = token\n"


def _model(tmp_path: Path, added: list[tuple[int, str]] | None) -> Path:
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    if added is not None:
        (folder / "tokenizer.json").write_text(json.dumps({"added_tokens": [{"id": i, "content": c} for i, c in added]}))
    return folder


def _rewards(tmp_path, monkeypatch, loop: str, added=None, extra: str = ""):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = _model(tmp_path, added)
    out, text = _import(tmp_path, [MODEL.replace('"unsloth/Qwen3-4B-Base"', repr(str(model))), loop, extra + REWARDS, TRAIN])
    cfg = parse_preset(out, "user").config
    return cfg, text, out.with_name(f"{out.stem}_rewards.py")


@pytest.mark.parametrize("loop, says", [
    (LOOP.replace("tag = token", "tag = token.strip()"), "`tag`, which cell 1 sets at run time"),  # a call
    (LOOP.replace("        tag = token", "        print(token)\n        tag = token"), "`tag`, which cell 1 sets at run time"),
    (LOOP.replace("get_added_vocab", "get_vocab"), "`tag`, which cell 1 sets at run time"),  # the whole vocabulary
    (LOOP.replace("tag = token", "break") + "tag = token\n", "`token`, which the notebook does not define"),
])
def test_a_loop_that_is_more_than_picking_an_added_token_stays_a_stub(tmp_path, monkeypatch, loop, says):
    cfg, text, rewards_py = _rewards(tmp_path, monkeypatch, "tag = None\n" + loop, added=[(5, "<think>")])
    assert [r.rpartition(":")[2] for r in cfg.rewards] == ["plain"]
    assert f"tagged (cell 2) uses {says}" in text
    mod = _load(rewards_py)  # the file still imports; the stub raises until filled in
    with pytest.raises(NotImplementedError):
        mod.tagged(completions=[])


def test_two_loops_setting_one_name_are_both_copied(tmp_path, monkeypatch):
    """The second loop sets `tag` only when an 'answer' token exists: without one the first loop's value stays
    (only the last loop was copied, so `tag` was None)."""
    loop2 = "for token in tokenizer.get_added_vocab():\n    if 'answer' in token:\n        tag = token\n"
    cfg, _, rewards_py = _rewards(tmp_path, monkeypatch, "tag = None\n" + LOOP + loop2, added=[(5, "<think>")])
    mod = _load(rewards_py)
    assert mod.tag == "<think>"
    assert mod.tagged(completions=[[{"content": "<think>x"}], [{"content": "x"}]]) == [1.0, 0.0]


def test_a_name_set_by_the_loop_then_set_again_does_not_need_the_tokenizer(tmp_path, monkeypatch):
    """`tag = '<fixed>'` after the loop: the reward reads the fixed tag, so it scores without the tokenizer's
    files (it was wrapped to refuse)."""
    cfg, _, rewards_py = _rewards(tmp_path, monkeypatch, "tag = None\n" + LOOP, added=None, extra="tag = '<fixed>'\n")
    mod = _load(rewards_py)
    assert mod.tagged(completions=[[{"content": "<fixed>"}], [{"content": "x"}]]) == [1.0, 0.0]


@pytest.mark.parametrize("second", ["tag += '<b>'\n", "tag = tag + '<b>'\n"])
def test_a_constant_built_up_over_statements_is_copied_whole(tmp_path, monkeypatch, second):
    """`tag += ...` was dropped (the reward read '<a>'), and `tag = tag + ...` was copied alone (NameError)."""
    cfg, _, rewards_py = _rewards(tmp_path, monkeypatch, "tag = '<a>'\n" + second)
    assert [r.rpartition(":")[2] for r in cfg.rewards] == ["tagged", "plain"]
    assert _load(rewards_py).tag == "<a><b>"


def test_without_the_tokenizer_files_a_loop_with_no_initial_value_still_imports(tmp_path, monkeypatch):
    """No `tag = None` before the loop, and a top-level regex built from it: without the tokenizer's files the
    loop runs over nothing. The file must still import (the other rewards score); the tag's reward refuses."""
    extra = "import re\nmatch_tag = re.compile(rf'{tag}(.*)')\n"
    rewards = REWARDS.replace("1.0 if tag in c[0]['content']", "1.0 if match_tag.search(c[0]['content'])")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = _model(tmp_path, None)
    out, _ = _import(tmp_path, [MODEL.replace('"unsloth/Qwen3-4B-Base"', repr(str(model))), LOOP, extra + rewards, TRAIN])
    mod = _load(out.with_name(f"{out.stem}_rewards.py"))
    assert mod.plain(completions=[[{"content": "x"}]]) == [0.5]
    with pytest.raises(RuntimeError, match="the local folder has no tokenizer.json or tokenizer_config.json"):
        mod.tagged(completions=[[{"content": "x"}]])
    # with the files the loop sets it, as in the notebook
    _model(tmp_path, [(5, "<think>")])
    mod = _load(out.with_name(f"{out.stem}_rewards.py"))
    assert mod.tagged(completions=[[{"content": "<think>x"}], [{"content": "y"}]]) == [1.0, 0.0]


def test_a_value_set_again_after_training_is_not_what_the_rewards_read(tmp_path, monkeypatch):
    """The cells after GRPOTrainer (inference) set `tag` again: the rewards scored with the value it had when
    the trainer ran (the copy took the notebook's last one)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out, _ = _import(tmp_path, [MODEL, "tag = '<a>'\n" + REWARDS, TRAIN + "trainer.train()\n",
                                "tag = '<inference>'\nprint(tag)\n"])
    assert _load(out.with_name(f"{out.stem}_rewards.py")).tag == "<a>"


@pytest.mark.parametrize("files, says", [
    ({"tokenizer.json": "null"}, "not a JSON object (a NoneType)"),
    ({"tokenizer.json": "[]"}, "not a JSON object (a list)"),
    ({"tokenizer_config.json": "[1]"}, "not a JSON object (a list)"),
    ({"tokenizer_config.json": '{"added_tokens_decoder": [1, 2], "eos_token": ["<e>"]}'}, "list none"),
    ({"tokenizer.json": '{"added_tokens": []}', "tokenizer_config.json": "{}"}, "list none"),
    ({"tokenizer.json": "{"}, "cannot read"),
    ({}, "the local folder has no tokenizer.json or tokenizer_config.json"),
])
def test_unreadable_tokenizer_files_make_the_vocab_rewards_refuse_not_the_file_crash(tmp_path, files, says):
    from grpo_tui.trainer.rewards.notebook_tokenizer import TokenizerFacts

    for name, text in files.items():
        (tmp_path / name).write_text(text)
    tok = TokenizerFacts(str(tmp_path))  # reads tokenizer_config.json's eos_token: must not raise
    assert tok.get_added_vocab() == {} and says in tok.vocab_missing
    assert isinstance(tok.eos_token, str) and tok.eos_token == ""
    guarded = tok.needs_vocab(lambda completions, **kw: [1.0])
    with pytest.raises(RuntimeError, match="cannot read|list none|no tokenizer.json"):
        guarded(completions=[])


def test_added_tokens_only_in_tokenizer_config_are_read_in_id_order(tmp_path):
    from grpo_tui.trainer.rewards.notebook_tokenizer import TokenizerFacts

    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"added_tokens_decoder": {
        "9": {"content": "</think>"}, "2": {"content": "<s>"}, "x": {"content": "bad"}}}))
    assert list(TokenizerFacts(str(tmp_path)).get_added_vocab().items()) == [("<s>", 2), ("</think>", 9)]


def test_a_model_name_not_carried_reads_no_tokenizer_from_the_current_folder(tmp_path, monkeypatch):
    """from_pretrained(model_name = os.environ[...]): the stand-in was TokenizerFacts(''), which read the
    tokenizer files of whatever folder the run started in."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out, text = _import(tmp_path, [MODEL.replace('"unsloth/Qwen3-4B-Base"', 'os.environ["MODEL"]'),
                                   "tag = None\n" + LOOP, REWARDS, TRAIN])
    assert "the notebook's model name is not carried, so it reads no tokenizer files" in text
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    (cwd / "tokenizer.json").write_text(json.dumps({"added_tokens": [{"id": 1, "content": "<think_wrong>"}]}))
    monkeypatch.chdir(cwd)
    mod = _load(out.with_name(f"{out.stem}_rewards.py"))
    assert mod.tag is None
    with pytest.raises(RuntimeError, match="no model is named"):
        mod.tagged(completions=[])


def test_tags_the_loop_picks_are_not_carried_as_the_none_they_start_as(tmp_path, monkeypatch):
    """DeepSeek's shape: `reasoning_start = None`, the loop over the added tokens sets it, and the system prompt
    is an f-string over it. The preset carried the system prompt "... None and None ..." (the literal before
    the loop); now the tags and that prompt are said as not carried, grpo-tui's defaults in their place."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loop = ("reasoning_start = None\nreasoning_end = None\n"
            "for token in tokenizer.get_added_vocab().keys():\n"
            "    if 'think' in token and '/' in token:\n        reasoning_end = token\n"
            "    elif 'think' in token:\n        reasoning_start = token\n"
            "system_prompt = f'Think between {reasoning_start} and {reasoning_end}'\n")
    data = ("from datasets import load_dataset\ndataset = load_dataset('open-r1/DAPO-Math-17k-Processed', 'en', "
            "split = 'train')\ndataset = dataset.map(lambda x: {'prompt': [{'role': 'system', 'content': system_prompt},"
            " {'role': 'user', 'content': x['prompt']}], 'answer': x['solution']})\n")
    out, text = _import(tmp_path, [MODEL, loop, data, REWARDS.replace("tag in", "reasoning_start in"),
                                   TRAIN.replace("train_dataset = None", "train_dataset = dataset")])
    assert "None and None" not in text
    assert "reasoning_start: computed in the notebook (reasoning_start: set at run time in cell 1 (for token in " \
           "tokenizer.get_added_vocab().keys():))" in text
    assert "system_prompt (cell 2): the system message is computed" in text
    cfg = parse_preset(out, "user").config
    assert "None" not in cfg.system_prompt


@pytest.mark.parametrize("later, r", [
    ("lora_rank *= 2\n", 64),  # was carried as 32
    ("lora_rank, other = 16, 0\n", 16),  # a tuple assignment of literals
    ("lora_rank: int = 8\n", 8),  # annotated (it kept 32)
])
def test_a_setting_name_bound_again_another_way_is_not_stale(tmp_path, later, r):
    model = MODEL.replace("model = FastLanguageModel.get_peft_model", later + "model = FastLanguageModel.get_peft_model")
    out, _ = _import(tmp_path, [model, REWARDS.replace("tag in", "'x' in"), TRAIN])
    assert parse_preset(out, "user").config.lora_rank == r


@pytest.mark.parametrize("tok, reads", [
    ("from transformers import AutoTokenizer\ntokenizer = AutoTokenizer.from_pretrained('{other}')\n", "other"),
    ("from unsloth.chat_templates import get_chat_template\ntokenizer = get_chat_template(tokenizer, "
     "chat_template = 'qwen-2.5')\n", "model"),  # the model's own tokenizer, with another template
])
def test_the_loop_reads_the_tokenizer_the_notebook_loaded(tmp_path, monkeypatch, tok, reads):
    """A notebook that loads its tokenizer from another repo than the model: the loop read the model's added
    tokens instead."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = _model(tmp_path, [(5, "<think_model>")])
    other = tmp_path / "other"
    other.mkdir()
    (other / "tokenizer.json").write_text(json.dumps({"added_tokens": [{"id": 3, "content": "<think_other>"}]}))
    out, _ = _import(tmp_path, [MODEL.replace('"unsloth/Qwen3-4B-Base"', repr(str(model))),
                                tok.replace("{other}", str(other)) + "tag = None\n" + LOOP, REWARDS, TRAIN])
    assert _load(out.with_name(f"{out.stem}_rewards.py")).tag == f"<think_{reads}>"


def test_a_tokenizer_built_in_code_is_said_and_the_processors_is_the_models(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = _model(tmp_path, [(5, "<think>")])
    base = MODEL.replace('"unsloth/Qwen3-4B-Base"', repr(str(model)))
    out, text = _import(tmp_path, [base, "tokenizer = processor.tokenizer\ntag = None\n" + LOOP, REWARDS, TRAIN], "p")
    assert _load(out.with_name(f"{out.stem}_rewards.py")).tag == "<think>"
    out, text = _import(tmp_path, [base, "tokenizer = build_tokenizer()\ntag = None\n" + LOOP, REWARDS, TRAIN], "b")
    assert "the notebook's `tokenizer` is not the model's" in text
    with pytest.raises(RuntimeError, match="no model is named"):
        _load(out.with_name(f"{out.stem}_rewards.py")).tagged(completions=[])


def test_an_sft_stage_is_read_when_the_grpo_trainer_names_no_dataset(tmp_path):
    """GRPOTrainer without train_dataset=: the SFT stage before it was not even looked at."""
    train = CELLS[-1].replace(", train_dataset = dataset)", ")")
    assert train != CELLS[-1]
    out, text = _import(tmp_path, CELLS[:-1] + [train])
    assert "dataset: no GRPOTrainer(train_dataset=...) found" in text
    assert parse_preset(out, "user").config.warmstart_dataset == "unsloth/OpenMathReasoning-mini"


def test_a_cap_written_the_other_way_round_is_the_same_cap(tmp_path):
    out, _ = _import(tmp_path, _sft_cells((r'dataset["N"] <= max_seq_length / 2', r'max_seq_length / 2 > dataset["N"]')))
    assert parse_preset(out, "user").config.warmstart_max_tokens == 1023


def test_the_added_tokens_are_read_once_however_many_loops_read_them(tmp_path, monkeypatch):
    """Each read may cost a hub connect (3 s when it is unreachable): two loops read the files once."""
    from grpo_tui.trainer.rewards import notebook_tokenizer

    calls = []
    real = notebook_tokenizer.added_vocab
    monkeypatch.setattr(notebook_tokenizer, "added_vocab", lambda m: calls.append(m) or real(m))
    (tmp_path / "tokenizer.json").write_text(json.dumps({"added_tokens": [{"id": 1, "content": "<think>"}]}))
    tok = notebook_tokenizer.TokenizerFacts(str(tmp_path))
    first = tok.get_added_vocab()
    first["<mutated>"] = 9  # a copy: the notebook's code cannot change what the next loop reads
    assert tok.get_added_vocab() == {"<think>": 1} and len(calls) == 1
