"""One control decision for every training process (``accelerate launch``).

Only the main process reads the run's command files, but a pause, stop or
checkpoint must happen on every rank at the same step boundary: a rank that
leaves the loop while the others start the next step leaves them waiting in a
collective that never completes (DDP aborts, the run crashes). So at each
step boundary every rank offers its view and all take the main process's,
with ``stop`` true when any rank wants to stop (a SIGTERM may reach one rank
first). While paused the ranks repeat this every poll, which keeps each
collective short: a pause of hours never runs into the process group's
timeout.

One process (no process group, or a group of one): the view is the decision.
"""

from __future__ import annotations

from typing import Any, Protocol


class RankSync(Protocol):
    def agree(self, view: dict[str, Any]) -> dict[str, Any]: ...


class SingleProcess:
    def agree(self, view: dict[str, Any]) -> dict[str, Any]:
        return dict(view)


class ProcessGroup:
    """Agreement over ``torch.distributed`` (gloo on CPU, NCCL on GPUs).

    Not ``all_gather_object``: its collective's work object and tensors are dropped by the
    backend's worker thread a moment after the caller's wait returns, and dropping a tensor that
    Python has already let go needs the GIL. At interpreter shutdown (the stop decision is the
    last collective before exit) the thread cannot have it, and the process aborts with
    "terminate called without an active exception": a clean stop read as a crashed launch
    (in a two-process loop of agree-then-exit, about one exit in three). So the work objects
    and tensors stay referenced here until the next agreement, the last ones until exit, and
    the worker thread's release is then a plain count decrement."""

    _held: tuple[Any, ...] = ()  # class-wide: outlives the instance, released at module teardown

    def __init__(self, dist: Any):
        self.dist = dist
        self.world_size = dist.get_world_size()

    def agree(self, view: dict[str, Any]) -> dict[str, Any]:
        import json

        import torch

        device = self._device(torch)
        payload = json.dumps(dict(view), default=str).encode("utf-8")
        size = torch.tensor([len(payload)], dtype=torch.long, device=device)
        sizes = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(self.world_size)]
        first = self.dist.all_gather(sizes, size, async_op=True)
        first.wait()
        longest = max(int(s.item()) for s in sizes)
        mine = torch.zeros(longest, dtype=torch.uint8)
        mine[: len(payload)] = torch.frombuffer(bytearray(payload), dtype=torch.uint8)
        mine = mine.to(device)
        gathered = [torch.zeros(longest, dtype=torch.uint8, device=device) for _ in range(self.world_size)]
        second = self.dist.all_gather(gathered, mine, async_op=True)
        second.wait()
        ProcessGroup._held = (first, second, size, sizes, mine, gathered)  # see the class docstring
        views = [json.loads(bytes(t[: int(n.item())].cpu().tolist()).decode("utf-8"))
                 for t, n in zip(gathered, sizes)]
        decision = dict(views[0])
        decision["stop"] = any(bool(v.get("stop")) for v in views)
        return decision

    def _device(self, torch: Any) -> Any:
        """NCCL moves only CUDA tensors; gloo only CPU ones."""
        try:
            if self.dist.get_backend() == "nccl":
                return torch.device("cuda", torch.cuda.current_device())
        except Exception:
            pass
        return torch.device("cpu")


def for_this_process() -> RankSync:
    """The process group when one with more than one rank is up (it is by the first step
    boundary: the Trainer's Accelerator starts it), else the single-process identity."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            return ProcessGroup(dist)
    except Exception:
        pass
    return SingleProcess()
