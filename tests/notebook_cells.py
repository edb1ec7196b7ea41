"""Notebooks written for the import tests, in the shapes Unsloth's GRPO notebooks have (issue 24):
an SFT warm-up set loaded before the GRPO set, a system prompt built from the notebook's tags,
lengths computed from the data and printed, reward functions with a local ``import re``, ``except
... as e``, ``global`` counters, an import repeated after first use, a tag set from the tokenizer.
None is a copy of those notebooks."""

from __future__ import annotations

import json
from pathlib import Path


def write_notebook(path: Path, cells: list[str], outputs: dict[int, str] | None = None) -> Path:
    outputs = outputs or {}
    nb = {"cells": [{"cell_type": "code", "source": c.splitlines(keepends=True), "metadata": {},
                     "execution_count": None,
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": [outputs[i]]}] if i in outputs
                     else []} for i, c in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


MODEL = ("from unsloth import FastLanguageModel\nmax_seq_length = 2048\nlora_rank = 32\n"
         "model, tokenizer = FastLanguageModel.from_pretrained(model_name = \"unsloth/Qwen3-4B-Base\",\n"
         "    max_seq_length = max_seq_length, load_in_4bit = False, fast_inference = True,\n"
         "    max_lora_rank = lora_rank, gpu_memory_utilization = 0.7)\n"
         "model = FastLanguageModel.get_peft_model(model, r = lora_rank, lora_alpha = lora_rank * 2,\n"
         "    target_modules = [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\"])\n")
TAGS = ("reasoning_start = \"<start_working_out>\"\nreasoning_end = \"<end_working_out>\"\n"
        "solution_start = \"<SOLUTION>\"\nsolution_end = \"</SOLUTION>\"\n"
        "system_prompt = f\"\"\"You are given a problem.\nShow your work between {reasoning_start} and "
        "{reasoning_end}.\nThen, provide your solution between {solution_start}{solution_end}\"\"\"\n")
SFT = ("from datasets import load_dataset, Dataset\nimport pandas as pd\nimport numpy as np\n"
       "dataset = load_dataset(\"unsloth/OpenMathReasoning-mini\", split = \"cot\")\n"
       "dataset = dataset.to_pandas()[[\"expected_answer\", \"problem\", \"generated_solution\"]]\n"
       "keep = pd.to_numeric(pd.Series(dataset[\"expected_answer\"]), errors = \"coerce\").notnull()\n"
       "dataset = dataset.iloc[np.where(keep)[0]]\n"
       "def as_messages(x):\n"
       "    body = x[\"generated_solution\"].replace(\"<think>\", \"\").replace(\"</think>\", \"\").strip()\n"
       "    return [{\"role\": \"system\", \"content\": system_prompt}, {\"role\": \"user\", \"content\": x[\"problem\"]},\n"
       "            {\"role\": \"assistant\", \"content\": reasoning_start + body + reasoning_end + solution_start"
       " + x[\"expected_answer\"] + solution_end}]\n"
       "dataset[\"Messages\"] = dataset.apply(as_messages, axis = 1)\n"
       "dataset[\"N\"] = dataset[\"Messages\"].apply(lambda m: len(tokenizer.apply_chat_template(m)))\n"
       "dataset = dataset.loc[dataset[\"N\"] <= max_seq_length / 2].copy()\n"
       "dataset = Dataset.from_pandas(dataset)\n"
       "from trl import SFTTrainer, SFTConfig\n"
       "trainer = SFTTrainer(model = model, tokenizer = tokenizer, train_dataset = dataset,\n"
       "    args = SFTConfig(per_device_train_batch_size = 1, gradient_accumulation_steps = 2, num_train_epochs = 2,\n"
       "                     learning_rate = 2e-4, warmup_steps = 5, lr_scheduler_type = \"linear\"))\ntrainer.train()\n")
GRPO_DATA = ("from datasets import load_dataset\n"
             "dataset = load_dataset(\"open-r1/DAPO-Math-17k-Processed\", \"en\", split = \"train\")\n"
             "dataset = dataset.map(lambda x: {\n    \"prompt\" : [\n"
             "        {\"role\": \"system\", \"content\": system_prompt},\n"
             "        {\"role\": \"user\",   \"content\": x[\"prompt\"]},\n    ],\n    \"answer\": x[\"solution\"],\n})\n")
LENGTHS = ("tokenized = dataset.map(lambda x: {\"tokens\": tokenizer.apply_chat_template(x[\"prompt\"], "
           "add_generation_prompt = True, tokenize = True)}, batched = True)\n"
           "tokenized = tokenized.map(lambda x: {\"L\": len(x[\"tokens\"])})\nimport numpy as np\n"
           "maximum_length = int(np.quantile(tokenized[\"L\"], 0.9))\nprint(\"Max Length = \", maximum_length)\n"
           "dataset = dataset.select(np.where(np.array(tokenized[\"L\"]) <= maximum_length)[0])\n")
REWARDS = (
    "import re\n"
    "match_format = re.compile(rf\"{reasoning_end}.*?{solution_start}(.+?){solution_end}\", flags = re.DOTALL)\n"
    "PRINTED_TIMES = 0\nPRINT_EVERY_STEPS = 5\n\n"
    "def match_format_approximately(completions, **kwargs):\n"
    "    scores = []\n    for completion in completions:\n        response = completion[0][\"content\"]\n"
    "        score = 0.5 if response.count(solution_start) == 1 else -1.0\n        scores.append(score)\n"
    "    return scores\n\n"
    "def check_answer(prompts, completions, answer, **kwargs):\n"
    "    import re as regex\n"
    "    responses = [completion[0][\"content\"] for completion in completions]\n"
    "    scores = []\n    for r, a in zip(responses, answer):\n        m = match_format.search(r)\n"
    "        try:\n            scores.append(3.0 if m and float(m.group(1)) == float(a) else 0.0)\n"
    "        except ValueError as e:\n            scores.append(-0.5 if regex.search('float', str(e)) else -1.0)\n"
    "    return scores\n\n"
    "def check_numbers(prompts, completions, answer, **kwargs):\n"
    "    global PRINTED_TIMES\n    question = prompts[0][-1][\"content\"]\n"
    "    if PRINTED_TIMES % PRINT_EVERY_STEPS == 0:\n        print('*' * 20, question)\n"
    "    PRINTED_TIMES += 1\n    return [0.0 for _ in completions]\n")
LATE_IMPORT = ("import re\n"  # the notebook imports re again in a later cell: the copy must not put it last
               "def language_reward(completions, **kwargs):\n"
               "    return [1.0 if re.search(r'[a-z]', c[0]['content']) else 0.0 for c in completions]\n")
FROM_TOKENIZER = ("think_tag = None\nfor token in tokenizer.get_added_vocab().keys():\n"
                  "    if \"think\" in token:\n        think_tag = token\n\n"
                  "def think_reward(completions, **kwargs):\n"
                  "    return [1.0 if c[0]['content'].count(think_tag) == 1 else 0.0 for c in completions]\n")
TRAIN = ("max_prompt_length = maximum_length + 1\nmax_completion_length = max_seq_length - max_prompt_length\n"
         "from trl import GRPOConfig, GRPOTrainer\n"
         "training_args = GRPOConfig(learning_rate = 5e-6, per_device_train_batch_size = 1, num_generations = 4,\n"
         "    max_prompt_length = max_prompt_length, max_completion_length = max_completion_length,\n"
         "    max_steps = 100, output_dir = \"outputs\")\n"
         "trainer = GRPOTrainer(model = model, processing_class = tokenizer,\n"
         "    reward_funcs = [match_format_approximately, check_answer, check_numbers, language_reward, think_reward],\n"
         "    args = training_args, train_dataset = dataset)\ntrainer.train()\n")
CELLS = [MODEL, TAGS, SFT, GRPO_DATA, LENGTHS, REWARDS, LATE_IMPORT, FROM_TOKENIZER, TRAIN]


def cache_tokenizer(monkeypatch, hub_cache: Path, repo: str, added: list[tuple[int, str]]) -> None:
    """Put a tokenizer.json with these added tokens in a hub cache, as a user who has run the notebook
    has it, and point this process (and the trainers it starts) at that cache."""
    import huggingface_hub.constants as hc

    folder = hub_cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text("0" * 40)
    snap = folder / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True, exist_ok=True)
    (snap / "tokenizer.json").write_text(json.dumps({"added_tokens": [{"id": i, "content": c} for i, c in added]}))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(hub_cache))
