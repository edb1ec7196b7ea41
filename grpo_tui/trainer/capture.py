"""Per-completion rows for the ``samples`` stream: the thinnest hook we could find.

TRL keeps the latest generation batch in ``trainer._logs`` (prompt, completion,
rewards per function, advantages), written at the end of
``_generate_and_score_completions``. Those deques are never cleared, so reading
them per step would repeat rows whenever a generation is reused
(``num_iterations > 1``). Instead we wrap that one method on the trainer
*instance*: after each real generation we slice the rows it just appended and
add what ``_logs`` lacks (token length, truncation, group, gold answer). Rows
are queued and written by the callback at the next step end, so each
completion is written exactly once.

Works for any GRPOTrainer subclass (Unsloth's included) since it only wraps
the instance attribute. With several training processes ``_logs`` already
holds every process's rows; the token facts (length, truncation, gold answer)
are each process's own and are gathered, so the main process writes them all.
"""

from __future__ import annotations

from typing import Any

from ..core.messages import chat_text
from ..core.numbers import finite
from .rewards import completion_text


# A row without a gold answer in the dataset (a str: it must survive gather_object's pickling).
NO_ANSWER = "\x00grpo-tui: no gold answer"
Fact = tuple[int, bool, Any]  # (completion tokens, truncated, gold answer or NO_ANSWER)


def prompt_text(prompt: Any) -> str:
    """A prompt as the sample browser shows it: ``role: content`` lines (core.messages)."""
    return chat_text(prompt, roles=True)


def _num(x: Any) -> float | None:
    """A reward or advantage as a finite float: they arrive as tensors or numpy scalars, so converted
    with float() first (core.numbers.finite takes Python numbers only)."""
    if type(x) is float:  # TRL's _logs hold floats (.tolist()): the common case, without a call
        return x if x - x == 0.0 else None  # NaN and +-inf give NaN here
    try:
        return finite(float(x))
    except (TypeError, ValueError):
        return None


def _same(a: Any, b: Any) -> bool:
    """Equal prompts (a group's G copies are equal, not identical); False where == is not a truth
    value (an array inside a multimodal message)."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


class SampleCapture:
    def __init__(self, trainer: Any, ctx: Any):
        self.trainer = trainer
        self.ctx = ctx
        self.pending: list[dict[str, Any]] = []
        self.enabled = True
        self.prompt_logged = False
        self._original = trainer._generate_and_score_completions
        trainer._generate_and_score_completions = self._wrapped

    def _wrapped(self, inputs, *args, **kwargs):
        output = self._original(inputs, *args, **kwargs)
        if not self.trainer.model.training:
            return output
        if not self.prompt_logged:
            self._log_rendered_prompt(output)
        tokens = self._token_facts(inputs, output)
        if self.trainer.accelerator.num_processes > 1:
            # _logs holds every process's rows (TRL gathers them); the token facts are per process.
            # Every rank reaches this point for every generation, so the gather cannot leave one waiting.
            from accelerate.utils import gather_object

            tokens = gather_object(tokens)
        if self.enabled:
            try:
                self._collect(tokens)
            except Exception as exc:  # capture must never break training
                self.ctx.log(f"sample capture failed: {type(exc).__name__}: {exc}", level="warning")
                self.enabled = False
        return output

    def _log_rendered_prompt(self, output: dict[str, Any]) -> None:
        """Once per run: the first prompt exactly as the model read it (chat template and special tokens
        included, decoded from TRL's own prompt ids), so a wrong or missing template shows in the log."""
        self.prompt_logged = True
        try:
            ids = output["prompt_ids"][0]
            mask = output["prompt_mask"][0].bool()
            text = self.trainer.processing_class.decode(ids[mask].tolist(), skip_special_tokens=False)
        except Exception:  # never break training over a log line
            return
        limit = 4000
        cut = f" ... ({len(text)} chars in all)" if len(text) > limit else ""
        self.ctx.log(f"first prompt as the model reads it: {text[:limit]!r}{cut}")

    def _token_facts(self, inputs: list[dict[str, Any]], output: dict[str, Any]) -> list[Fact | None]:
        """(length, truncated, gold answer or NO_ANSWER) of this process's completions, in order, from
        a few reductions on the tensors (~30 µs a step of 128 on the loop's thread); None for each
        when they cannot be read, so that every process still takes part in the gather."""
        try:
            tr = self.trainer
            ids, mask = output["completion_ids"], output["completion_mask"]
            eos = set(getattr(tr, "eos_token_ids", None) or [tr._tokenizer.eos_token_id])
            pad_id = tr._tokenizer.pad_token_id
            max_len = tr.max_completion_length
            lengths = mask.sum(dim=1)
            if not bool(lengths.all()):  # rows masked as truncated (mask_truncated_completions): real tokens
                real = (ids != pad_id).sum(dim=1) if pad_id is not None else ids.new_full(lengths.shape, ids.shape[1])
                lengths = lengths.where(lengths > 0, real)
            # Two small copies to Python: each row's length and last token; the rest is list work.
            last = ids.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).view(-1).tolist()
            n = len(last)
            answers = [inp.get("answer", NO_ANSWER) for inp in inputs[:n]] + [NO_ANSWER] * (n - len(inputs))
            return [(length, length > 0 and end not in eos and length >= max_len, answer)
                    for length, end, answer in zip(lengths.tolist(), last, answers)]
        except Exception:
            n = len(output.get("completion_ids", ())) if isinstance(output, dict) else 0
            return [None] * n

    def _collect(self, tokens: list[Fact | None]) -> None:
        """Rows for the completions just generated, queued for the step's ``samples`` event."""
        self.pending.extend(rows_of(self._snapshot(len(tokens)), tokens))

    def _snapshot(self, n: int) -> dict[str, Any]:
        """The newest ``n`` entries of TRL's columns and what the rows need of the trainer."""
        tr = self.trainer
        logs = tr._logs
        names = list(tr.reward_func_names)
        return {"prompts": list(logs["prompt"])[-n:], "completions": list(logs["completion"])[-n:],
                "advantages": list(logs["advantages"])[-n:], "names": names,
                "rewards": [list(logs["rewards"][name])[-n:] for name in names],
                "weights": [float(w) for w in tr.reward_weights.tolist()], "G": tr.num_generations}

    def flush(self, step: int) -> int:
        """Write the queued rows as one ``samples`` event; returns the row count."""
        if not self.pending:
            return 0
        rows, self.pending = self.pending, []
        self.ctx.samples.emit("samples", step, rows=rows)
        return len(rows)


def rows_of(snapshot: dict[str, Any], tokens: list[Fact | None]) -> list[dict[str, Any]]:
    """Rows for the completions of one generation (all processes', in TRL's gathered order, which is
    also its grouping order), from ``SampleCapture._snapshot`` and the token facts.

    128 rows a step on the tiny preset: columns are converted whole, and a prompt repeated through
    its group is turned into text once."""
    n = len(tokens)
    prompts, completions = snapshot["prompts"], snapshot["completions"]
    advantages = [_num(a) for a in snapshot["advantages"]]
    names = snapshot["names"]
    columns = [[_num(x) for x in col] for col in snapshot["rewards"]]
    G = snapshot["G"]
    rows = []
    previous, previous_text = None, ""
    pairs = list(zip(names, snapshot["weights"]))
    for i in range(min(len(prompts), n)):
        scores, total = {}, None
        for (name, w), col in zip(pairs, columns):
            sc = scores[name] = col[i]
            if sc is not None:
                total = 0.0 + sc * w if total is None else total + sc * w  # 0.0 +: as sum() did (no -0.0)
        prompt = prompts[i]
        if prompt is not previous and not _same(prompt, previous):
            previous, previous_text = prompt, prompt_text(prompt)
        completion = completions[i]
        row = {
            "prompt": previous_text,
            "completion": completion if type(completion) is str else completion_text(completion),
            "rewards": scores,
            "reward": total,
            "advantage": advantages[i],
            "group": i // G,
        }
        fact = tokens[i]
        if fact is not None:  # length, truncated, answer: left out where they could not be read
            row["length"], row["truncated"], answer = fact
            if not (type(answer) is str and answer == NO_ANSWER):
                row["answer"] = answer
        rows.append(row)
    return rows
