"""Asks: prompts tried against the live policy of a paused run (`grpo-tui ask`, the sample browser).

The flow, all through the run directory like every other command:
  * a reader checks the request here (``check_request``) and queues an ``ask`` command;
  * the trainer, paused at a step boundary, generates with the policy as it is, scores the
    completions with the run's reward functions when a gold answer is known, writes the rows as
    one ``ask`` event in ``samples.jsonl`` (so they are kept and exported with the samples, marked
    ``ask``), and acknowledges the command with a ``control`` event (``answered`` or ``error``);
  * readers find the rows with ``SampleStore.asks()``.

An ask never changes the weights, the optimizer, the step or the training RNG stream
(trainer.ask). Headless: no torch, no textual.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from . import metric_names as M

# Bounds: an ask runs on the paused trainer's memory budget, and one at a time.
MAX_N = 16
MAX_HELDOUT = 64
MAX_PROMPT_CHARS = 20_000
MAX_TOKENS_CAP = 4096
DEFAULT_N = 4
DEFAULT_HELDOUT = 8


class AskError(ValueError):
    """An ask that cannot be sent or answered; the message is one line."""


@dataclass
class AskRequest:
    prompt: str = ""
    gold: str | None = None
    n: int = DEFAULT_N
    temperature: float | None = None  # None: the run's own sampling settings
    max_tokens: int | None = None  # None: the run's max_completion_length
    heldout: int = 0  # > 0: that many held-out questions instead of ``prompt``

    def payload(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def check_request(payload: dict[str, Any]) -> AskRequest:
    """An ``AskRequest`` from a command's payload; ``AskError`` names what is wrong."""
    req = AskRequest()
    heldout = payload.get("heldout", 0) or 0
    if not isinstance(heldout, int) or isinstance(heldout, bool) or not 0 <= heldout <= MAX_HELDOUT:
        raise AskError(f"heldout must be a whole number from 1 to {MAX_HELDOUT}")
    req.heldout = heldout
    prompt = payload.get("prompt", "")
    if not isinstance(prompt, str):
        raise AskError("the prompt must be text")
    if not heldout:
        if not prompt.strip():
            raise AskError("the prompt is empty; type a question (or ask held-out questions)")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise AskError(f"the prompt has {len(prompt):,} characters; at most {MAX_PROMPT_CHARS:,}")
        req.prompt = prompt
    gold = payload.get("gold")
    if gold is not None:
        gold = str(gold).strip()
        req.gold = gold or None
    n = payload.get("n", 1 if heldout else DEFAULT_N)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N:
        raise AskError(f"n must be a whole number from 1 to {MAX_N}")
    req.n = n
    t = payload.get("temperature")
    if t is not None:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= float(t) <= 2.0:
            raise AskError("temperature must be a number from 0 (greedy) to 2")
        req.temperature = float(t)
    mt = payload.get("max_tokens")
    if mt is not None:
        if not isinstance(mt, int) or isinstance(mt, bool) or not 1 <= mt <= MAX_TOKENS_CAP:
            raise AskError(f"max_tokens must be a whole number from 1 to {MAX_TOKENS_CAP}")
        req.max_tokens = mt
    return req


def answer_summary(event: dict[str, Any]) -> str:
    """One line for an answered ask: how many completions, mean reward, accuracy when scored."""
    rows = event.get("rows") or []
    parts = [f"{len(rows)} completion{'s' if len(rows) != 1 else ''}"]
    rewards = [r.get(M.SAMPLE_REWARD) for r in rows if isinstance(r.get(M.SAMPLE_REWARD), (int, float))]
    if rewards:
        parts.append(f"mean reward {sum(rewards) / len(rewards):.2f}")
    acc = event.get("accuracy")
    if isinstance(acc, (int, float)):
        parts.append(f"accuracy {acc:.0%}")
    trunc = sum(1 for r in rows if r.get("truncated"))
    if trunc:
        parts.append(f"{trunc} truncated")
    return ", ".join(parts)


def wait_answer(run: Any, cid: str, timeout: float, poll: float = 0.2) -> dict[str, Any] | None:
    """The ``control`` event acknowledging ask ``cid`` (``answered`` or ``error``); None on timeout or when
    the trainer is gone without answering."""
    import time

    from . import events as ev
    from .rundir import summarize

    reader = ev.EventReader(run.events, types=[ev.CONTROL])
    deadline = time.monotonic() + timeout
    last_alive_check = time.monotonic()
    while True:
        for e in reader.read_new():
            if e.get("id") == cid:
                return e
        now = time.monotonic()
        if now >= deadline:
            return None
        if now - last_alive_check > 2.0:
            last_alive_check = now
            if not summarize(run).live:
                return next((e for e in reader.read_new() if e.get("id") == cid), None)
        time.sleep(poll)
