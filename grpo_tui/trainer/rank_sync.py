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
    """Agreement over ``torch.distributed`` (gloo on CPU, NCCL on GPUs)."""

    def __init__(self, dist: Any):
        self.dist = dist
        self.world_size = dist.get_world_size()

    def agree(self, view: dict[str, Any]) -> dict[str, Any]:
        views: list[Any] = [None] * self.world_size
        self.dist.all_gather_object(views, dict(view))
        decision = dict(views[0])
        decision["stop"] = any(bool(v.get("stop")) for v in views)
        return decision


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
