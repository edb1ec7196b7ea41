"""`grpo-tui import`: a preset from a GRPO notebook or script, nothing run.

The notebook and script here are written for this test in the shapes Unsloth's and TRL's GRPO
notebooks have (magics, an os.environ line, settings held in variables, a SamplingParams handed to
GRPOConfig, a value computed from the data, plain and not-plain reward functions); they are not
copies of anyone's notebook.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from grpo_tui.cli import main
from grpo_tui.core.planning.presets import parse_preset

CELLS = [
    "%%capture\nimport os\nos.environ[\"UNSLOTH_VLLM_STANDBY\"] = \"1\"\n!pip install unsloth vllm\n",
    "# markdown-ish comment only\n",
    "from unsloth import FastLanguageModel\nseq_len = 1024\nrank = 16\n"
    "model, tokenizer = FastLanguageModel.from_pretrained(\n    model_name = \"unsloth/Qwen3-1.7B\",\n"
    "    max_seq_length = seq_len,\n    load_in_4bit = True,\n    fast_inference = True,\n"
    "    max_lora_rank = rank,\n    gpu_memory_utilization = 0.6,\n)\n"
    "model = FastLanguageModel.get_peft_model(\n    model,\n    r = rank,\n"
    "    target_modules = [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\"],\n    lora_alpha = rank * 2,\n"
    "    use_gradient_checkpointing = \"unsloth\",\n    random_state = 7,\n)\n",
    "import re\nfrom datasets import load_dataset\n"
    "dataset = load_dataset(\"openai/gsm8k\", \"main\", split = \"train\")\n"
    "ANSWER = re.compile(r\"<answer>(.*?)</answer>\", re.S)\nBONUS = 2.0\n"
    "longest = max(len(tokenizer(x)[\"input_ids\"]) for x in dataset[\"question\"])\n",
    "def answer_reward(prompts, completions, answer, **kwargs):\n"
    "    texts = [c[0][\"content\"] if isinstance(c, list) else c for c in completions]\n"
    "    got = [ANSWER.search(t) for t in texts]\n"
    "    return [BONUS if g and g.group(1).strip() == a else 0.0 for g, a in zip(got, answer)]\n\n"
    "def length_reward(completions, **kwargs):\n"
    "    return [-len(tokenizer(c)[\"input_ids\"]) / 1000 for c in completions]\n",
    "from vllm import SamplingParams\n"
    "sp = SamplingParams(min_p = 0.05, top_k = -1, seed = 11, stop = [tokenizer.eos_token],\n"
    "                    include_stop_str_in_output = True)\n"
    "from trl import GRPOConfig, GRPOTrainer\n"
    "args = GRPOConfig(\n    vllm_sampling_params = sp,\n    learning_rate = 1e-5,\n    adam_beta2 = 0.99,\n"
    "    optim = \"adamw_8bit\",\n    per_device_train_batch_size = 1,\n    num_generations = 4,\n"
    "    max_prompt_length = longest + 1,\n    max_completion_length = 512,\n    max_steps = 60,\n"
    "    report_to = \"none\",\n    output_dir = \"outputs\",\n    eval_strategy = \"steps\",\n)\n"
    "trainer = GRPOTrainer(model = model, processing_class = tokenizer,\n"
    "    reward_funcs = [answer_reward, length_reward], args = args, train_dataset = dataset)\ntrainer.train()\n",
]


def _notebook(path: Path) -> Path:
    nb = {"cells": [{"cell_type": "code", "source": c.splitlines(keepends=True), "outputs": [],
                     "metadata": {}, "execution_count": None} for c in CELLS[:1]]
          + [{"cell_type": "markdown", "source": ["# Title\n"], "metadata": {}}]
          + [{"cell_type": "code", "source": c.splitlines(keepends=True), "outputs": [], "metadata": {},
              "execution_count": None} for c in CELLS[1:]],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def test_import_a_notebook_writes_a_preset_that_plans(tmp_path, capsys):
    nb = _notebook(tmp_path / "My GRPO (1.7B).ipynb")
    out = tmp_path / "mine.toml"
    assert main(["import", str(nb), "-o", str(out)]) == 0, capsys.readouterr()
    said = capsys.readouterr().out
    text = out.read_text()
    # carried, each citing its cell (cell 0 is the magic cell, 1 the markdown, 3 the model cell)
    assert 'model_name = "unsloth/Qwen3-1.7B"  # cell 3: from_pretrained(model_name = \'unsloth/Qwen3-1.7B\')' in text
    assert "max_seq_length = 1024  # cell 3: from_pretrained(max_seq_length = seq_len)" in text
    assert "lora_alpha = 32  # cell 3: get_peft_model(lora_alpha = rank * 2)" in text
    assert 'UNSLOTH_VLLM_STANDBY = "1"  # cell 0: os.environ' in text
    assert "sampling_seed = 11  # cell 6: SamplingParams(sampling_seed = 11)" in text
    assert "top_k = -1" in text and "min_p = 0.05" in text and "adam_beta2 = 0.99" in text
    assert 'dataset = "openai/gsm8k"' in text and 'dataset_config = "main"' in text
    # not carried, each with its reason
    assert "max_prompt_length (cell 6, GRPOConfig): computed, not a literal (longest = max(" in text
    assert "eval_strategy (cell 6, GRPOConfig): not taken" in text
    assert "stop (cell 6, SamplingParams): [tokenizer.eos_token] needs the tokenizer" in text
    assert "reward length_reward (cell 5) uses `tokenizer`" in text and "not carried: max_prompt_length" in said
    # the preset loads as written (nothing guessed), and plans
    p = parse_preset(out, "user")
    assert p.ok, p.error
    cfg = p.config
    assert (cfg.backend, cfg.model, cfg.lora_rank, cfg.random_state, cfg.vllm_standby) == \
        ("unsloth", "unsloth/Qwen3-1.7B", 16, 7, True)
    assert cfg.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"] and cfg.use_vllm
    assert main(["plan", str(out), "--gpu", "T4"]) == 0
    assert "raises it to num_generations" in " ".join(capsys.readouterr().out.split())
    # the plain reward was copied with what it needs, and scores; the other is a stub, not used
    rewards_py = tmp_path / "mine_rewards.py"
    assert cfg.rewards == [f"{rewards_py}:answer_reward"]
    spec = importlib.util.spec_from_file_location("imported_rewards", rewards_py)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.answer_reward(["q", "q"], ["<answer>4</answer>", "<answer>5</answer>"], ["4", "4"]) == [2.0, 0.0]
    try:
        mod.length_reward(["x"])
        raise AssertionError("the stub must not pretend to work")
    except NotImplementedError:
        pass


def test_import_a_trl_script(tmp_path, capsys):
    script = tmp_path / "train_grpo.py"
    script.write_text(
        "from peft import LoraConfig\nfrom trl import GRPOConfig, GRPOTrainer\n"
        "peft = LoraConfig(r=8, lora_alpha=16, target_modules=\"all-linear\", task_type=\"CAUSAL_LM\")\n"
        "cfg = GRPOConfig(output_dir=\"out\", num_generations=8, per_device_train_batch_size=8, top_p=0.9,\n"
        "                 warmup_steps=5, num_train_epochs=1, bf16=True)\n"
        "def brevity(completions, **kw):\n    return [-len(c) / 100 for c in completions]\n"
        "trainer = GRPOTrainer(model=\"Qwen/Qwen2.5-0.5B-Instruct\", reward_funcs=[brevity], args=cfg,\n"
        "                      peft_config=peft)\n")
    out = tmp_path / "script.toml"
    assert main(["import", str(script), "-o", str(out)]) == 0
    text = out.read_text()
    assert 'target_modules = "all-linear"' in text and "warmup_steps = 5" in text
    assert "bf16 (cell 0, GRPOConfig): not taken (set dtype=bfloat16" in text
    cfg = parse_preset(out, "user").config
    assert cfg.model == "Qwen/Qwen2.5-0.5B-Instruct" and cfg.lora_targets[-1] == "down_proj"
    assert cfg.rewards == [f"{tmp_path / 'script_rewards.py'}:brevity"]
    assert main(["import", str(script), "-o", str(out)]) == 2  # exists: --force to overwrite
    assert "exists (--force overwrites it)" in capsys.readouterr().err
