"""A user's Unsloth GRPO notebook as a script (tests run it with the stand-in unsloth of tests/standins:
there is no GPU here). grpo-tui is imported first on purpose: importing it must not load trl or
transformers before unsloth patches them. USER_OUT, USER_STEPS as in user_grpo.py."""

import os

from grpo_tui import watch  # <- grpo-tui line 1 (before unsloth: loads nothing heavy)

from unsloth import FastLanguageModel  # noqa: E402  (unsloth first, as its docs say)

import random  # noqa: E402
import re  # noqa: E402

from datasets import Dataset  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from grpo_tui.core.settings.config import RunConfig  # noqa: E402
from grpo_tui.trainer.tiny import ensure_tiny  # noqa: E402

model, tokenizer = FastLanguageModel.from_pretrained(model_name=str(ensure_tiny(RunConfig())), max_seq_length=64,
                                                     load_in_4bit=False, fast_inference=False)
model = FastLanguageModel.get_peft_model(model, r=8, lora_alpha=16,
                                         target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
tokenizer.padding_side = "left"
rng = random.Random(0)
dataset = Dataset.from_list([{"prompt": f"{a}+{b}=", "answer": str(a + b)}
                             for a, b in ((rng.randint(0, 4), rng.randint(0, 4)) for _ in range(32))])


def match_format_exactly(completions, **kwargs):
    return [1.0 if re.search(r"<answer>\d+</answer>", c) else 0.0 for c in completions]


def check_answer(completions, answer, **kwargs):
    return [1.0 if f"<answer>{a}</answer>" in c else 0.0 for c, a in zip(completions, answer)]


args = GRPOConfig(output_dir=os.environ.get("USER_OUT", "outputs"), max_steps=int(os.environ.get("USER_STEPS", "3")),
                  per_device_train_batch_size=8, num_generations=4, max_completion_length=8, learning_rate=5e-5,
                  logging_steps=1, save_steps=1000, report_to="none", use_cpu=True, bf16=False, temperature=1.0)
trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=[match_format_exactly, check_answer],
                      args=args, train_dataset=dataset)
watch(trainer)  # <- grpo-tui line 2
trainer.train()
print("USER SCRIPT DONE", flush=True)
