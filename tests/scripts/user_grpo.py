"""A user's own GRPO training script, as someone would write it with plain TRL (tests run it as a
subprocess). The only grpo-tui lines are the two marked below; the tiny model and the arithmetic rows
stand in for a hub model and dataset (no network here).

Environment knobs (tests): USER_OUT (output_dir), USER_STEPS, USER_FAIL_AT (a reward function raises
at that step), USER_NO_WATCH=1 (train unwatched), USER_LOG_COMPLETIONS=1, USER_SAVE_STEPS,
USER_REPORT_TO (default "none"), USER_STEP_SLEEP (seconds a reward function sleeps: a slow step),
USER_OWN_LOG (a file the script's own logging callback appends "step report_to" lines to).
"""

import os
import random
import re
import time

from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig, GRPOTrainer

from grpo_tui.core.settings.config import RunConfig
from grpo_tui.trainer.tiny import ensure_tiny

out = os.environ.get("USER_OUT", "outputs")
steps = int(os.environ.get("USER_STEPS", "4"))
fail_at = int(os.environ.get("USER_FAIL_AT", "0"))
sleep_s = float(os.environ.get("USER_STEP_SLEEP", "0"))

model_dir = ensure_tiny(RunConfig())  # the project's tiny offline model (a user would name a hub model)
tokenizer = AutoTokenizer.from_pretrained(model_dir)
tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
tokenizer.padding_side = "left"
model = AutoModelForCausalLM.from_pretrained(model_dir)

rng = random.Random(0)
rows = []
for _ in range(64):
    a, b = rng.randint(0, 4), rng.randint(0, 4)
    rows.append({"prompt": f"{a}+{b}=", "answer": str(a + b)})
dataset = Dataset.from_list(rows)


def format_reward(completions, **kwargs):
    return [1.0 if re.search(r"<answer>\d+</answer>", c) else 0.0 for c in completions]


def correctness_reward(completions, answer, trainer_state=None, **kwargs):
    if fail_at and trainer_state is not None and trainer_state.global_step >= fail_at:
        raise ValueError(f"my reward broke at step {trainer_state.global_step}")
    if sleep_s:
        time.sleep(sleep_s)
    return [1.0 if re.search(rf"<answer>{a}</answer>", c) else 0.0 for c, a in zip(completions, answer)]


args = GRPOConfig(
    output_dir=out,
    max_steps=steps,
    per_device_train_batch_size=8,
    num_generations=4,
    max_completion_length=8,
    learning_rate=1e-4,
    logging_steps=1,
    save_steps=int(os.environ.get("USER_SAVE_STEPS", "1000")),
    report_to=os.environ.get("USER_REPORT_TO", "none"),
    log_completions=os.environ.get("USER_LOG_COMPLETIONS") == "1",
    use_cpu=True,
    bf16=False,
    seed=1,
)
trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=[format_reward, correctness_reward],
                      args=args, train_dataset=dataset)

if os.environ.get("USER_OWN_LOG"):  # the user's own logging callback (as trackio's / wandb's integrations are)
    from transformers import TrainerCallback

    class MyLogger(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "reward" in logs:
                with open(os.environ["USER_OWN_LOG"], "a") as fh:
                    fh.write(f"{state.global_step} {args.report_to}\n")

    trainer.add_callback(MyLogger())

if os.environ.get("USER_NO_WATCH") != "1":
    from grpo_tui import watch  # <- grpo-tui line 1

    watch(trainer)  # <- grpo-tui line 2
else:
    from grpo_tui.trainer.compat import install_cpu_logprob_fallback  # TRL 1.15 needs it on a CPU

    install_cpu_logprob_fallback()

trainer.train()
print("USER SCRIPT DONE", flush=True)
