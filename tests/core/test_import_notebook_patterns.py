"""`grpo-tui import` on the patterns Unsloth's GRPO notebooks have (issue 24).

Each notebook here is written for this test to reproduce one pattern seen in unslothai/notebooks
`nb/` (an SFT warm-up set loaded before the GRPO set, a system prompt built from the notebook's tags,
lengths computed from the data and printed, reward functions with a local ``import re``, ``except ...
as e``, ``global`` counters, an import repeated after first use, tags set from the tokenizer); none is
a copy of those notebooks.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from grpo_tui.cli import main
from grpo_tui.core.planning.presets import parse_preset
from notebook_cells import CELLS, MODEL, SFT, write_notebook


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"copied_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def imported(tmp_path, capsys):
    nb = write_notebook(tmp_path / "Qwen3_like_GRPO.ipynb", CELLS, outputs={4: "Max Length =  201\n"})
    out = tmp_path / "q.toml"
    assert main(["import", str(nb), "-o", str(out)]) == 0, capsys.readouterr().err
    return out, out.read_text(), capsys.readouterr().out


def test_the_grpo_dataset_is_the_one_the_trainer_gets_and_the_sft_stage_is_said(imported):
    out, text, said = imported
    cfg = parse_preset(out, "user").config
    assert (cfg.dataset, cfg.dataset_config, cfg.dataset_split) == ("open-r1/DAPO-Math-17k-Processed", "en", "train")
    assert '\ndataset = "unsloth/OpenMathReasoning' not in text  # the SFT set is not the GRPO set
    # the SFT stage is the format warm start, on the SFT set, with the notebook's batch, rate, epochs and filters
    assert (cfg.warmstart_dataset, cfg.warmstart_dataset_split, cfg.warmstart_dataset_config) == \
        ("unsloth/OpenMathReasoning-mini", "cot", "")
    assert (cfg.warmstart_steps, cfg.warmstart_epochs, cfg.warmstart_batch_size, cfg.warmstart_learning_rate) == \
        (0, 2.0, 2, 2e-4)
    assert cfg.warmstart_numeric_answers and cfg.warmstart_max_tokens == 1024  # max_seq_length 2048 / 2
    assert "SFT stage (cell 2, SFTTrainer) carried as the format warm start" in text
    assert "SFT stage (cell 2, SFTConfig): lr_scheduler_type, warmup_steps -- the warm start uses a constant rate, " \
           "no warm-up" in said
    # TRL's SFT on the chat text learns the prompt's tokens too; the warm start does not: said, not hidden
    assert "SFT stage (cell 2, SFTTrainer): the loss -- the notebook learns every token of the chat text" in said


@pytest.mark.parametrize("change, why", [
    (("train_dataset = dataset,", "train_dataset = make_rows(),"), "train_dataset = make_rows() is not traced back to a load_dataset call"),
    (("num_train_epochs = 2,", "num_train_epochs = epochs,"), "its num_train_epochs is computed"),
    (("learning_rate = 2e-4,", "learning_rate = lr,"), "its learning rate is computed"),
])
def test_an_sft_stage_that_cannot_be_read_is_said_and_nothing_of_it_is_half_carried(tmp_path, capsys, change, why):
    cells = [c.replace(*change) if c is SFT else c for c in CELLS]
    out = tmp_path / "s.toml"
    assert main(["import", str(write_notebook(tmp_path / "s.ipynb", cells)), "-o", str(out)]) == 0
    text = out.read_text()
    assert f"SFT stage (cell 2, SFTTrainer): the notebook fine-tunes the format with SFT before GRPO; not carried " \
           f"({why}" in text
    assert "\nwarmstart_" not in text
    cfg = parse_preset(out, "user").config
    assert cfg.warmstart_steps == 0 and cfg.warmstart_epochs == 0 and not cfg.warmstart_dataset


def test_an_sft_stage_that_learns_the_reply_only_is_not_said_to_differ_in_its_loss(tmp_path, capsys):
    cells = [c.replace("num_train_epochs = 2,", "num_train_epochs = 2, assistant_only_loss = True,") if c is SFT else c
             for c in CELLS]
    assert main(["import", str(write_notebook(tmp_path / "a.ipynb", cells)), "-o", str(tmp_path / "a.toml")]) == 0
    said = capsys.readouterr().out
    assert "carried as the format warm start" in (tmp_path / "a.toml").read_text()
    assert "the loss -- the notebook learns every token" not in said


def test_the_system_prompt_tags_and_chat_form_are_carried(imported):
    out, text, _ = imported
    cfg = parse_preset(out, "user").config
    assert cfg.system_prompt == ("You are given a problem.\nShow your work between <start_working_out> and "
                                 "<end_working_out>.\nThen, provide your solution between <SOLUTION></SOLUTION>")
    assert (cfg.reasoning_start, cfg.reasoning_end, cfg.solution_start, cfg.solution_end) == \
        ("<start_working_out>", "<end_working_out>", "<SOLUTION>", "</SOLUTION>")
    assert cfg.prompt_form == "chat" and "prompt_form = chat (cell 3)" in text


def test_computed_lengths_come_from_the_saved_output_and_say_so(imported):
    out, text, _ = imported
    cfg = parse_preset(out, "user").config
    assert (cfg.max_prompt_length, cfg.max_completion_length, cfg.max_seq_length) == (202, 1846, 2048)
    assert "maximum_length = 201: computed from the data in cell 4" in text
    assert "saved output 'Max Length =  201'" in text


def test_lengths_without_a_saved_output_are_measured_at_launch_not_guessed(tmp_path, capsys):
    nb = write_notebook(tmp_path / "nb.ipynb", CELLS)  # never run: no output
    out = tmp_path / "q.toml"
    assert main(["import", str(nb), "-o", str(out)]) == 0
    capsys.readouterr()
    text = out.read_text()
    assert "max_prompt_length (cell 8, GRPOConfig): computed from the data (max_prompt_length = maximum_length + 1)" \
        in text
    assert "\nmax_prompt_length =" not in text and "\nmax_completion_length =" not in text  # no default stands in
    cfg = parse_preset(out, "user").config
    assert cfg.lengths_from_data == "quantile 0.9 + 1"  # the trainer resolves it (tests/trainer/test_lengths_from_data.py)
    assert main(["plan", str(out), "--gpu", "T4", "--json"]) in (0, 1)
    plan = json.loads(capsys.readouterr().out)["plan"]  # planned at the longest completion it can set, said
    assert any("lengths_from_data 'quantile 0.9 + 1'" in n and "max_completion_length 2047" in n for n in plan["notes"])


@pytest.mark.parametrize("measured", [
    'max(len(tokenizer(x)["input_ids"]) for x in dataset["question"])',  # raw text, not the chat prompt
    'int(np.median(tokenized["L"]))',  # a rule the trainer does not have
])
def test_length_rules_the_trainer_cannot_repeat_stay_not_carried(tmp_path, measured):
    cells = [c.replace('int(np.quantile(tokenized["L"], 0.9))', measured) for c in CELLS]
    assert cells != CELLS
    out = tmp_path / "q.toml"
    assert main(["import", str(write_notebook(tmp_path / "nb.ipynb", cells)), "-o", str(out)]) == 0
    text = out.read_text()
    assert "max_prompt_length (cell 8, GRPOConfig): computed, not a literal" in text
    assert "lengths_from_data =" not in text


def test_every_copied_reward_imports_and_passes_the_probe(imported, monkeypatch):
    from grpo_tui.trainer.rewards import load_user_reward, probe_reward

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the model's tokenizer is not here and cannot be fetched
    out, text, _ = imported
    cfg = parse_preset(out, "user").config.validate()
    names = [r.rpartition(":")[2] for r in cfg.rewards]
    assert names == ["match_format_approximately", "check_answer", "check_numbers", "language_reward", "think_reward"]
    rewards_py = Path(cfg.rewards[0].rpartition(":")[0])
    source = rewards_py.read_text()
    assert source.index("import re") < source.index("re.compile")  # imports first, whatever cell they were in
    _load(rewards_py)  # imports
    for spec in cfg.rewards[:-1]:
        assert len(probe_reward(load_user_reward(spec), spec, cfg)) == 3
    right = [[{"role": "assistant", "content": "<end_working_out><SOLUTION>4</SOLUTION>"}]]
    assert load_user_reward(cfg.rewards[1])(prompts=[[]], completions=right, answer=["4"]) == [3.0]
    # the tag the notebook takes from the tokenizer's added tokens is never guessed: without the model's
    # tokenizer files the reward that reads it refuses, naming the model; the others above still score
    assert "cell 7 reads tokenizer.get_added_vocab(): copied as written" in text
    with pytest.raises(RuntimeError, match="unsloth/Qwen3-4B-Base's added tokens"):
        _load(rewards_py).think_reward(completions=[])


def test_tags_set_from_the_tokenizers_added_tokens_are_read_from_its_files(tmp_path, monkeypatch):
    """DeepSeek-R1-0528-Qwen3's notebook finds its reasoning tags by looping over
    tokenizer.get_added_vocab(): the loop is copied as written and runs on the model's own added tokens,
    in id order as transformers gives them (the last match wins, as in the notebook)."""
    from grpo_tui.trainer.rewards import load_user_reward, probe_reward

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = tmp_path / "model"
    model.mkdir()
    added = [(7, "<think>"), (3, "<|User|>"), (9, "</think>"), (8, "<|think_old|>")]  # file order is not id order
    (model / "tokenizer.json").write_text(json.dumps({"added_tokens": [{"id": i, "content": c} for i, c in added]}))
    (model / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ x }}"}))
    loop = ("reasoning_start = None\nreasoning_end = None\nuser_token = None\n"
            "for token in tokenizer.get_added_vocab().keys():\n"
            "    if 'think' in token and '/' in token:\n        reasoning_end = token\n"
            "    elif 'think' in token:\n        reasoning_start = token\n"
            "    elif 'User' in token:\n        user_token = token\n")
    cells = [MODEL.replace('"unsloth/Qwen3-4B-Base"', repr(str(model))), loop,
             "import re\nmatch_format = re.compile(rf'{reasoning_end}(.*)', re.DOTALL)\n"
             "def exactly(completions, **kwargs):\n"
             "    return [3.0 if match_format.search(c[0]['content']) else 0.0 for c in completions]\n"
             "def approx(completions, **kwargs):\n"
             "    return [(0.5 if c[0]['content'].count(reasoning_start) == 1 else -1.0) for c in completions]\n",
             "from trl import GRPOConfig, GRPOTrainer\nargs = GRPOConfig(output_dir = 'o', max_prompt_length = 128,"
             " max_completion_length = 256)\n"
             "trainer = GRPOTrainer(model = model, reward_funcs = [exactly, approx], args = args, train_dataset = None)\n"]
    out = tmp_path / "d.toml"
    assert main(["import", str(write_notebook(tmp_path / "d.ipynb", cells)), "-o", str(out)]) == 0
    cfg = parse_preset(out, "user").config.validate()
    assert [r.rpartition(":")[2] for r in cfg.rewards] == ["exactly", "approx"]
    mod = _load(Path(cfg.rewards[0].rpartition(":")[0]))
    assert (mod.reasoning_start, mod.reasoning_end, mod.user_token) == ("<|think_old|>", "</think>", "<|User|>")
    done = [[{"content": "<|think_old|>2+2</think>4"}], [{"content": "just 4"}]]
    assert mod.exactly(completions=done) == [3.0, 0.0] and mod.approx(completions=done) == [0.5, -1.0]
    for spec in cfg.rewards:
        assert len(probe_reward(load_user_reward(spec), spec, cfg)) == 3
    assert main(["rewards", "audit", "--preset", str(out)]) in (0, 1)  # a verdict, not an error


def test_a_function_building_the_dataset_and_a_verbatim_system_prompt(tmp_path):
    cells = [MODEL,
             "import re\nfrom datasets import load_dataset, Dataset\n"
             "SYSTEM_PROMPT = \"\"\"\nRespond in the following format:\n<reasoning>\n...\n</reasoning>\n\"\"\"\n"
             "def extract_hash_answer(text):\n    return text.split('####')[1].strip()\n\n"
             "def get_questions(split = \"train\") -> Dataset:\n"
             "    data = load_dataset('openai/gsm8k', 'main')[split]\n"
             "    data = data.map(lambda x: {'prompt': [{'role': 'system', 'content': SYSTEM_PROMPT},\n"
             "        {'role': 'user', 'content': x['question']}], 'answer': extract_hash_answer(x['answer'])})\n"
             "    return data\n\ndataset = get_questions()\n",
             "def xml_reward(completions, **kwargs):\n    return [0.5 * c[0]['content'].count('<reasoning>')"
             " for c in completions]\n",
             "from trl import GRPOConfig, GRPOTrainer\nargs = GRPOConfig(max_prompt_length = 256, "
             "max_completion_length = 200, output_dir = 'o')\n"
             "trainer = GRPOTrainer(model = model, reward_funcs = [xml_reward], args = args, train_dataset = dataset)\n"]
    out = tmp_path / "g.toml"
    assert main(["import", str(write_notebook(tmp_path / "g.ipynb", cells)), "-o", str(out)]) == 0
    cfg = parse_preset(out, "user").config
    assert (cfg.dataset, cfg.dataset_config, cfg.dataset_split) == ("openai/gsm8k", "main", "train")
    assert cfg.system_prompt == "\nRespond in the following format:\n<reasoning>\n...\n</reasoning>\n"
    assert cfg.prompt_form == "chat"


def test_a_dataset_built_in_code_is_said(tmp_path):
    cells = [MODEL,
             "from datasets import Dataset\nprompt = 'Write a fast matrix multiply.'\n"
             "dataset = Dataset.from_list([{'prompt': [{'role': 'user', 'content': prompt}], 'answer': 0}] * 100)\n",
             "def works(completions, **kwargs):\n    out = []\n    for c in completions:\n        try:\n"
             "            out.append(1.0 if 'def' in c[0]['content'] else 0.0)\n"
             "        except Exception as e:\n            out.append(-1.0)\n    return out\n",
             "from trl import GRPOConfig, GRPOTrainer\nargs = GRPOConfig(max_completion_length = 200, output_dir='o')\n"
             "trainer = GRPOTrainer(model = model, reward_funcs = [works], args = args, train_dataset = dataset)\n"]
    out = tmp_path / "c.toml"
    assert main(["import", str(write_notebook(tmp_path / "c.ipynb", cells)), "-o", str(out)]) == 0
    text = out.read_text()
    assert "dataset (cell 1): built in code (Dataset.from_list(...)); not carried -- grpo-tui's built-in task " \
           "builtin:arith is used" in text
    cfg = parse_preset(out, "user").config
    assert cfg.dataset == "builtin:arith" and cfg.prompt_form == "chat"
    assert cfg.rewards[0].endswith(":works")  # `except ... as e` is not an undefined name


@pytest.mark.parametrize("cells, says", [
    (["from unsloth import FastLanguageModel\nmodel, tokenizer = FastLanguageModel.from_pretrained("
      "model_name = 'unsloth/Llama-3.2-3B-Instruct')\nif False:\n    model, tokenizer = FastLanguageModel."
      "from_pretrained(model_name = 'lora_model')\n",
      "from trl import SFTTrainer, SFTConfig\ntrainer = SFTTrainer(model = model, args = SFTConfig(max_steps = 60))\n"],
     "not a GRPO notebook (no GRPOConfig or GRPOTrainer call; it trains with SFTTrainer in cell 1); nothing written"),
    (["from unsloth import FastVisionModel\nmodel, tokenizer = FastVisionModel.from_pretrained("
      "'unsloth/Qwen2.5-VL-7B-Instruct', fast_inference = True)\n"
      "def make_conversation(x):\n    return {'prompt': [{'role': 'user', 'content': [{'type': 'image'}, "
      "{'type': 'text', 'text': x['question']}]}]}\n",
      "from trl import GRPOConfig, GRPOTrainer\ntrainer = GRPOTrainer(model = model, args = GRPOConfig(), "
      "reward_funcs = [], train_dataset = None)\n"],
     "a vision GRPO notebook (FastVisionModel, cell 0: images reach the model with each prompt)"),
    (["from trl import GRPOConfig, GRPOTrainer\ndef rollout_func(prompts, trainer):\n    return {}\n"
      "trainer = GRPOTrainer(model = 'Qwen/Qwen3-1.7B', args = GRPOConfig(), reward_funcs = [],\n"
      "    rollout_func = rollout_func)\n"],
     "an environment GRPO notebook (GRPOTrainer(rollout_func=...), cell 0: the episodes are played by its code)"),
])
def test_what_grpo_tui_would_train_differently_is_refused_in_one_line(tmp_path, capsys, cells, says):
    out = tmp_path / "x.toml"
    assert main(["import", str(write_notebook(tmp_path / "x.ipynb", cells)), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_fields_the_rl_notebooks_bring_are_carried_or_refused_with_a_reason(tmp_path):
    cells = [
        "from unsloth import FastLanguageModel\nmodel, tokenizer = FastLanguageModel.from_pretrained(\n"
        "    model_name = 'unsloth/Llama-3.1-8B-Instruct', max_seq_length = 2048, load_in_4bit = False,\n"
        "    load_in_fp8 = True, fast_inference = True, max_num_seqs = 64, offload_embedding = True)\n"
        "model = FastLanguageModel.get_peft_model(model, r = 8, use_rslora = False)\n",
        "from trl import GRPOConfig, GRPOTrainer\n"
        "args = GRPOConfig(importance_sampling_level = 'sequence', scale_rewards = False, epsilon_high = 0.28,\n"
        "    delta = 1.5, log_completions = True, num_train_epochs = 1, max_steps = -1, output_dir = 'o',\n"
        "    max_prompt_length = 256, max_completion_length = 512,\n"
        "    vllm_sampling_params = None)\n"
        "trainer = GRPOTrainer(model = model, reward_funcs = [], args = args, train_dataset = None)\n"]
    out = tmp_path / "f.toml"
    assert main(["import", str(write_notebook(tmp_path / "f.ipynb", cells)), "-o", str(out)]) == 0
    text = out.read_text()
    cfg = parse_preset(out, "user").config
    assert cfg.load_in_fp8 and not cfg.load_in_4bit
    assert (cfg.importance_sampling_level, cfg.scale_rewards, cfg.epsilon_high, cfg.delta) == \
        ("sequence", "none", 0.28, 1.5)
    assert cfg.num_train_epochs == 1 and cfg.max_steps == 100
    for line in ("max_steps = -1 (cell 1, GRPOConfig): the notebook trains for num_train_epochs",
                 "log_completions (cell 1, GRPOConfig): not taken (grpo-tui records every completion itself",
                 "max_num_seqs (cell 0, from_pretrained): not taken (not carried: vLLM's batch",
                 "offload_embedding (cell 0, from_pretrained): not taken",
                 "use_rslora (cell 0, get_peft_model): not taken"):
        assert line in text, line
    # planned at one byte a parameter for the linear layers, as the FP8 notebooks' logs show
    from grpo_tui.core.planning.planner import plan
    sixteen = plan(cfg.with_overrides({"load_in_fp8": False}), 14.74)
    fp8 = plan(cfg, 14.74)
    assert fp8.parts["weights"] < 0.6 * sixteen.parts["weights"]


def test_vllm_sampling_params_as_a_json_object():
    from grpo_tui.core.settings.config import RunConfig

    a = RunConfig.from_mapping({"vllm_sampling_params": '{"min_p": 0.1, "top_k": -1, "seed": 3407}'})
    b = RunConfig.from_mapping({"vllm_sampling_params": "min_p=0.1, top_k=-1, seed=3407"})
    assert (a.min_p, a.top_k, a.sampling_seed) == (b.min_p, b.top_k, b.sampling_seed) == (0.1, -1, 3407)
    from grpo_tui.core.settings.config import ConfigError

    with pytest.raises(ConfigError, match="vllm_sampling_params.max_tokens"):
        RunConfig.from_mapping({"vllm_sampling_params": '{"max_tokens": 10}'})


def test_without_a_gpu_the_gpu_is_said_first(tmp_path, capsys, monkeypatch):
    """An imported Unsloth preset on a machine with no GPU: the missing GPU is the first line, before
    the 8-bit optimizer (bitsandbytes) and the rewards, which would only matter on the GPU machine."""
    monkeypatch.setenv("GRPO_TUI_FAKE_GPUS", "none")
    cells = [MODEL, "def broken(completions, **kwargs):\n    return None\n",
             "from trl import GRPOConfig, GRPOTrainer\nargs = GRPOConfig(optim = 'adamw_8bit', output_dir = 'o',\n"
             "    max_prompt_length = 256, max_completion_length = 256)\n"
             "trainer = GRPOTrainer(model = model, reward_funcs = [broken], args = args, train_dataset = None)\n"]
    out = tmp_path / "g.toml"
    assert main(["import", str(write_notebook(tmp_path / "g.ipynb", cells)), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["run", "--preset", str(out), "--headless", "--detach"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs an NVIDIA GPU and none is usable" in err, err


def test_lora_targets_are_the_models_own_linear_layers(tmp_path):
    """LFM2's layers (out_proj, in_proj, w1, w2, w3) are its own names, read from its config.json's
    model_type (as in transformers' Lfm2); a model whose architecture is only guessed from its id is not
    refused names that cannot be checked."""
    from grpo_tui.core.settings.config import ConfigError, RunConfig
    from grpo_tui.core.planning.planner import plan

    folder = tmp_path / "lfm"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "lfm2", "num_hidden_layers": 16, "hidden_size": 2048, "num_attention_heads": 32,
        "num_key_value_heads": 8, "block_ff_dim": 12288, "vocab_size": 65536, "tie_word_embeddings": True}))
    lfm = ["q_proj", "k_proj", "v_proj", "out_proj", "in_proj", "w1", "w2", "w3"]
    base = dict(backend="unsloth", model=str(folder), target_modules=lfm, max_seq_length=1024)
    p = plan(RunConfig(**base).validate(), 14.74)
    assert p.parts["weights"] > 0
    with pytest.raises(ConfigError, match="'gate_proj' is not a linear layer of .*use some of q_proj, k_proj, "
                                          "v_proj, out_proj, in_proj, w1, w3, w2"):
        plan(RunConfig(**{**base, "target_modules": ["q_proj", "gate_proj"]}).validate(), 14.74)
    guessed = RunConfig(**{**base, "model": "someone/Unheard-Of-1.2B"}).validate()
    assert plan(guessed, 14.74).parts["weights"] > 0


def test_a_text_notebook_loading_with_fastvisionmodel_is_text(tmp_path):
    """Gemma 4's text GRPO notebooks load the model with FastVisionModel; no image reaches it."""
    cells = ["from unsloth import FastVisionModel\nmodel, tokenizer = FastVisionModel.from_pretrained("
             "'unsloth/gemma-4-E2B-it', max_seq_length = 1024, load_in_4bit = True)\n",
             "from trl import GRPOConfig, GRPOTrainer\nargs = GRPOConfig(output_dir = 'o', max_prompt_length = 128,"
             " max_completion_length = 256)\n"
             "def r(completions, **kwargs):\n    return [0.0 for _ in completions]\n"
             "trainer = GRPOTrainer(model = model, reward_funcs = [r], args = args, train_dataset = None)\n"]
    out = tmp_path / "g4.toml"
    assert main(["import", str(write_notebook(tmp_path / "g4.ipynb", cells)), "-o", str(out)]) == 0
    assert parse_preset(out, "user").config.model == "unsloth/gemma-4-E2B-it"


def test_a_reward_needing_a_package_not_installed_here_says_which(tmp_path):
    cells = [MODEL, "import zz_not_installed_langid\ndef lang(completions, **kwargs):\n"
             "    return [1.0 if zz_not_installed_langid.classify(c[0]['content']) else 0.0 for c in completions]\n",
             "from trl import GRPOConfig, GRPOTrainer\nargs = GRPOConfig(output_dir = 'o', max_prompt_length = 128,"
             " max_completion_length = 256)\n"
             "trainer = GRPOTrainer(model = model, reward_funcs = [lang], args = args, train_dataset = None)\n"]
    out = tmp_path / "l.toml"
    assert main(["import", str(write_notebook(tmp_path / "l.ipynb", cells)), "-o", str(out)]) == 0
    assert "the copied rewards import zz_not_installed_langid, not installed here: pip install " \
           "zz_not_installed_langid" in out.read_text()


def test_tokenizer_eos_token_in_a_reward_regex_is_answered_by_the_stand_in(tmp_path):
    """Qwen3's notebook ends its format regex with an optional re.escape(tokenizer.eos_token): the copy
    keeps the reward, with a stand-in that reads the model's EOS from its tokenizer files; a reward that
    needs more of the tokenizer stays a stub."""
    from grpo_tui.trainer.rewards import load_user_reward, probe_reward

    model = tmp_path / "model"
    model.mkdir()
    (model / "tokenizer_config.json").write_text(json.dumps({"eos_token": {"content": "<|endoftext|>"},
                                                             "chat_template": "{{ x }}"}))
    cells = [MODEL.replace('"unsloth/Qwen3-4B-Base"', repr(str(model))),
             "import re\nsolution_end_regex = r'</SOLUTION>[\\s]{0,}' + '(?:' + re.escape(tokenizer.eos_token) + ')?'\n"
             "match_format = re.compile(rf'<SOLUTION>(.+?){solution_end_regex}[\\s]{{0,}}$', flags = re.DOTALL)\n"
             "def exact(completions, **kwargs):\n"
             "    return [3.0 if match_format.search(c[0]['content']) else 0.0 for c in completions]\n"
             "def length(completions, **kwargs):\n"
             "    return [len(tokenizer.encode(c[0]['content'])) / 100 for c in completions]\n",
             "from trl import GRPOConfig, GRPOTrainer\nargs = GRPOConfig(output_dir = 'o', max_prompt_length = 128,"
             " max_completion_length = 256)\n"
             "trainer = GRPOTrainer(model = model, reward_funcs = [exact, length], args = args, train_dataset = None)\n"]
    out = tmp_path / "e.toml"
    assert main(["import", str(write_notebook(tmp_path / "e.ipynb", cells)), "-o", str(out)]) == 0
    text = out.read_text()
    cfg = parse_preset(out, "user").config.validate()
    assert [r.rpartition(":")[2] for r in cfg.rewards] == ["exact"]
    assert "length (cell 1) uses `tokenizer`" in text
    mod = _load(Path(cfg.rewards[0].rpartition(":")[0]))
    assert mod.tokenizer.eos_token == "<|endoftext|>"
    assert mod.exact(completions=[[{"content": "<SOLUTION>4</SOLUTION><|endoftext|>"}],
                                  [{"content": "<SOLUTION>4</SOLUTION>"}], [{"content": "4"}]]) == [3.0, 3.0, 0.0]
    assert len(probe_reward(load_user_reward(cfg.rewards[0]), "exact", cfg)) == 3
    with pytest.raises(AttributeError, match=r"knows eos_token and get_added_vocab\(\) only"):
        mod.tokenizer.decode


def test_nonlocal_counters_and_tuple_assignments_are_read_as_python_does(tmp_path):
    """gpt-oss's helper counts with `nonlocal` inside a nested function; Muse Glimmer unpacks
    `_head, _tail = ...` at top level. Neither is an undefined name."""
    cells = [MODEL,
             "def count_imports(code):\n    count = 0\n    def visit(line):\n        nonlocal count\n"
             "        if line.startswith('import'):\n            count += 1\n"
             "    for line in code.splitlines():\n        visit(line)\n    return count\n"
             "_head, _tail = 'A|B'.split('|')\n"
             "def few_imports(completions, **kwargs):\n"
             "    return [1.0 if count_imports(c[0]['content']) < 2 else 0.0 for c in completions]\n"
             "def starts_right(completions, **kwargs):\n"
             "    return [0.5 if c[0]['content'].startswith(_head) else 0.0 for c in completions]\n",
             "from trl import GRPOConfig, GRPOTrainer\nargs = GRPOConfig(output_dir = 'o', max_prompt_length = 128,"
             " max_completion_length = 256)\n"
             "trainer = GRPOTrainer(model = model, reward_funcs = [few_imports, starts_right], args = args,\n"
             "    train_dataset = None)\n"]
    out = tmp_path / "n.toml"
    assert main(["import", str(write_notebook(tmp_path / "n.ipynb", cells)), "-o", str(out)]) == 0
    cfg = parse_preset(out, "user").config
    assert [r.rpartition(":")[2] for r in cfg.rewards] == ["few_imports", "starts_right"]
    mod = _load(Path(cfg.rewards[0].rpartition(":")[0]))
    done = [[{"content": "import os\nimport sys"}], [{"content": "A then B"}]]
    assert mod.few_imports(completions=done) == [0.0, 1.0] and mod.starts_right(completions=done) == [0.0, 0.5]


def test_when_no_reward_can_be_copied_the_built_in_ones_are_said(tmp_path):
    cells = [MODEL, "def uses_model(completions, **kwargs):\n    return [model.score(c) for c in completions]\n",
             "from trl import GRPOConfig, GRPOTrainer\nargs = GRPOConfig(output_dir = 'o', max_prompt_length = 128,"
             " max_completion_length = 256)\n"
             "trainer = GRPOTrainer(model = model, reward_funcs = [uses_model], args = args, train_dataset = None)\n"]
    out = tmp_path / "m.toml"
    assert main(["import", str(write_notebook(tmp_path / "m.ipynb", cells)), "-o", str(out)]) == 0
    assert "none of the notebook's reward functions could be copied (stubs below); grpo-tui's built-in format + " \
           "correctness are used until you fill them in" in out.read_text()


def test_a_printed_length_after_unfinished_output_is_still_read(tmp_path, capsys):
    # DeepSeek-R1-0528-Qwen3 (8B)'s cell 44 prints a decoded prompt without a newline, then the length:
    # its saved output reads '...find $a + b + c$.<｜Assistant｜>Max Length =  180'
    nb = write_notebook(tmp_path / "nb.ipynb", CELLS, outputs={4: "a prompt<｜Assistant｜>Max Length =  180\n"})
    out = tmp_path / "q.toml"
    assert main(["import", str(nb), "-o", str(out)]) == 0
    cfg = parse_preset(out, "user").config
    assert (cfg.max_prompt_length, cfg.max_completion_length, cfg.lengths_from_data) == (181, 2048 - 181, "")
    assert "saved output 'Max Length =  180'" in out.read_text()
