"""Per-completion samples for the ``samples`` stream: the thinnest hook we could find.

TRL keeps the latest generation batch in ``trainer._logs`` (prompt, completion,
rewards per function, advantages), written at the end of
``_generate_and_score_completions``. Those deques are never cleared, so reading
them per step would repeat rows whenever a generation is reused
(``num_iterations > 1``). Instead we wrap that one method on the trainer
*instance*: after each real generation we slice the rows it just appended and
add what ``_logs`` lacks (token length, truncation, group, gold answer). They
are queued as columns (core.run.sample_columns: no dict per completion) and
written by the callback at the next step end, so each completion is written
exactly once.

Works for any GRPOTrainer subclass (Unsloth's included) since it only wraps
the instance attribute. With several training processes ``_logs`` already
holds every process's rows; the token facts (length, truncation, gold answer)
are each process's own and are gathered, so the main process writes them all.
"""

from __future__ import annotations

from typing import Any

from ..core.run import events as ev
from ..core.run.messages import chat_text
from ..core.util.numbers import finite
from .rewards import completion_text


# What the tensors and the inputs tell of each completion, as columns: (completion tokens, truncated,
# gold answer); None where not known (no answer in the dataset; facts that could not be read).
Facts = tuple[list[Any], list[Any], list[Any]]
Batch = dict[str, Any]  # one generation's samples payload: prompts + columns (core.run.sample_columns)
COLUMN_KEYS = ("prompt", "completion", "advantage", "group", "length", "truncated", "answer")


def prompt_text(prompt: Any) -> str:
    """A prompt as the sample browser shows it: ``role: content`` lines (core.run.messages)."""
    return chat_text(prompt, roles=True)


def _num(x: Any) -> float | None:
    """A reward or advantage as a finite float: they arrive as tensors or numpy scalars, so converted
    with float() first (core.util.numbers.finite takes Python numbers only)."""
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
        facts = self._token_facts(inputs, output)
        if self.trainer.accelerator.num_processes > 1:
            # _logs holds every process's rows (TRL gathers them); the token facts are per process.
            # Every rank reaches this point for every generation, so the gather cannot leave one waiting.
            from accelerate.utils import gather_object

            facts = concat(gather_object([facts]))
        if self.enabled:
            try:
                self._collect(facts)
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

    def _token_facts(self, inputs: list[dict[str, Any]], output: dict[str, Any]) -> Facts:
        """Length, truncation and gold answer of this process's completions, in order, from two or
        four small tensor reads; None for each when they cannot be read, so that every process still
        takes part in the gather."""
        try:
            tr = self.trainer
            ids, mask = output["completion_ids"], output["completion_mask"]
            eos = set(getattr(tr, "eos_token_ids", None) or [tr._tokenizer.eos_token_id])
            max_len = tr.max_completion_length
            lengths = mask.sum(dim=1)
            counted = lengths.tolist()
            if 0 in counted:  # rows masked as truncated (mask_truncated_completions): their real tokens
                pad_id = tr._tokenizer.pad_token_id
                real = (ids != pad_id).sum(dim=1) if pad_id is not None else ids.new_full(lengths.shape, ids.shape[1])
                lengths = lengths.where(lengths > 0, real)
                counted = lengths.tolist()
            # Only a completion that reached the cap can be truncated: the last tokens of those alone,
            # as one column when they all end at the cap (the usual case; each tensor op costs ~10 us).
            at_cap = [i for i, length in enumerate(counted) if length >= max_len and length > 0]
            n = len(counted)
            truncated = [False] * n
            if at_cap:
                if ids.shape[1] >= max_len and all(counted[i] == max_len for i in at_cap):
                    last = ids.select(1, max_len - 1).tolist()
                else:
                    last = ids.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).view(-1).tolist()
                for i in at_cap:
                    truncated[i] = last[i] not in eos
            answers = [inp.get("answer") for inp in inputs[:n]] + [None] * (n - len(inputs))
            return counted, truncated, answers
        except Exception:
            n = len(output.get("completion_ids", ())) if isinstance(output, dict) else 0
            return [None] * n, [None] * n, [None] * n

    def _collect(self, facts: Facts) -> None:
        """Columns for the completions just generated, queued for the step's ``samples`` event."""
        batch = columns_of(self.trainer, facts)
        if batch["columns"]["completion"]:  # a generation with nothing in it writes no event
            self.pending.append(batch)

    def flush(self, step: int) -> dict[str, Any] | None:
        """The queued columns as one ``samples`` event, held for the callback's next commit; returns it
        (None when nothing was queued)."""
        if not self.pending:
            return None
        batches, self.pending = self.pending, []
        return self.ctx.samples.hold(ev.SAMPLES, step, **merge(batches))


def concat(parts: list[Facts]) -> Facts:
    """Every process's facts, in process order (the order of TRL's gathered ``_logs``)."""
    return ([x for p in parts for x in p[0]], [x for p in parts for x in p[1]], [x for p in parts for x in p[2]])


def columns_of(trainer: Any, facts: Facts) -> Batch:
    """The columns (core.run.sample_columns) of one generation's completions: all processes', in TRL's
    gathered order, which is also its grouping order. The newest entries (one per fact) of TRL's
    ``_logs`` columns, aligned with the token facts; a prompt repeated through its group is turned
    into text once."""
    logs = trainer._logs
    lengths, truncated, answers = facts
    n = len(lengths)
    prompts = list(logs["prompt"])[-n:]
    m = min(len(prompts), n)
    names = list(trainer.reward_func_names)
    weights = [float(w) for w in trainer.reward_weights.tolist()]
    G = trainer.num_generations
    texts: list[str] = []
    index = []
    previous: Any = index  # matches no prompt
    for prompt in prompts[:m]:
        if prompt is not previous and not _same(prompt, previous):
            texts.append(prompt_text(prompt))
            previous = prompt
        index.append(len(texts) - 1)
    completions = list(logs["completion"])[-n:][:m]
    return {
        "prompts": texts,
        "weights": dict(zip(names, weights)),  # readers weigh the scores into each row's total
        "columns": {
            "prompt": index,
            "completion": completions if _all(completions, str) else [
                c if type(c) is str else completion_text(c) for c in completions],
            "rewards": {name: _scores(list(logs["rewards"][name])[-n:][:m]) for name in names},
            "advantage": _scores(list(logs["advantages"])[-n:][:m]),
            "group": [i // G for i in range(m)],
            # null where not known (the row leaves them out)
            "length": lengths[:m], "truncated": truncated[:m], "answer": answers[:m],
        },
    }


def _all(values: list, kind: type) -> bool:
    return set(map(type, values)) <= {kind}


def _scores(values: list) -> list:
    """A column of scores as written: TRL's Python floats as they are (the encoder writes NaN and
    inf as null, which readers take as "no score"), anything else through ``_num``."""
    return values if _all(values, float) else [_num(x) for x in values]


def merge(batches: list[Batch]) -> Batch:
    """One step's generations as one payload (several when a step spans more than one generation):
    prompt indices and groups of a later generation follow the earlier ones'."""
    if len(batches) == 1:
        return batches[0]
    prompts: list[str] = []
    weights: dict[str, float] = {}
    cols: dict[str, Any] = {key: [] for key in COLUMN_KEYS}
    rewards: dict[str, list] = {}
    rows = 0
    for batch in batches:
        c = batch["columns"]
        k = len(c["completion"])
        groups = max(cols["group"], default=-1) + 1
        cols["prompt"] += [i + len(prompts) for i in c["prompt"]]
        cols["group"] += [g + groups for g in c["group"]]
        for key in COLUMN_KEYS:
            if key not in ("prompt", "group"):
                cols[key] += c[key]
        for name in list(rewards) + [name for name in c["rewards"] if name not in rewards]:  # first-seen order
            rewards.setdefault(name, [None] * rows).extend(c["rewards"].get(name) or [None] * k)
        prompts += batch["prompts"]
        weights.update(batch["weights"])
        rows += k
    cols["rewards"] = rewards
    return {"prompts": prompts, "weights": weights, "columns": cols}
