"""``python -m grpo_tui.trainer RUN_DIR``: the background training process.

Reads ``run.json``, writes ``run_started`` (pid + psutil create time, so
readers can tell a dead trainer from a reused pid), runs the configured
backend, and always ends with a ``finished`` event: completed, stopped, or
failed with the traceback and the last lines of trainer.log. A SIGKILL leaves
no ``finished`` event; readers then see the pid gone and show "crashed".

SIGTERM / SIGHUP / SIGINT ask for a graceful stop at the next step boundary
(adapter saved), or, before the first step, at the next loading phase boundary
(a ``stop`` command too: trainer.loading_watch); a second one exits at once. The launcher starts this process
in its own session, so closing the terminal does not reach it.

Environment: ``GRPO_TUI_RESUME`` = checkpoint path to resume from (set by
``grpo-tui run --resume``).
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

from ..core.run import events as ev
from ..core.settings.config import RunConfig
from ..core.run.rundir import RunDir

# Test hook: raise inside the trainer after N steps (tests/test_failures.py).
FAIL_ENV = "GRPO_TUI_TEST_FAIL_AT_STEP"


def hardware_snapshot() -> dict:
    import platform

    hw: dict = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    try:
        import psutil

        hw["ram_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except Exception:
        pass
    # The GPUs through NVML, torch's version from its metadata: a torch.cuda call here would start CUDA
    # before `import unsloth` sets the allocator's environment (read once, when CUDA starts).
    try:
        from importlib import metadata

        hw["torch"] = metadata.version("torch")
    except Exception:
        pass
    try:
        from ..core.planning import hardware

        gpus = hardware.detect(processes=False, host=False).visible_gpus
        if gpus:
            hw["cuda"] = [{"name": g.name, "memory_gb": round(g.total_gb, 1) if g.total_gb else None}
                          for g in gpus]
    except Exception:
        pass
    return hw


def _install_signal_handlers(ctx) -> None:
    def handler(signum, frame):
        if ctx.stop_requested.is_set():
            raise KeyboardInterrupt(f"signal {signum}")
        ctx.request_stop(f"signal {signal.Signals(signum).name}")

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):
            pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m grpo_tui.trainer RUN_DIR", file=sys.stderr)
        return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Everything the trainer creates (adapter, checkpoints, model cache, exports) is private to the
    # user like the run directory itself: save_pretrained and friends create with the default umask.
    os.umask(0o077)
    run = RunDir(Path(argv[0]).resolve())
    info = run.info()
    cfg = RunConfig.from_mapping(info.get("config", {}))
    threads = _cpu_threads(cfg)  # before torch is imported
    from .hub import prepare_offline

    prepare_offline(cfg)  # before transformers/datasets are imported
    resume = os.environ.get("GRPO_TUI_RESUME") or None
    from . import distributed

    events, samples = distributed.event_writers(run.events, run.samples)  # rank 0 writes, other ranks do not

    from .context import StoppedBeforeTraining, TrainerContext

    ctx = TrainerContext(run=run, cfg=cfg, events=events, samples=samples,
                         resume_from=Path(resume) if resume else None)
    if resume:
        try:
            ctx.step = int(Path(resume).name.rsplit("-", 1)[-1])
        except ValueError:
            pass
    try:
        import psutil

        create_time = psutil.Process(os.getpid()).create_time()
    except Exception:
        create_time = None
    hardware = hardware_snapshot()
    expected = None
    if threads is not None:
        from ..core.planning.cpu_speed import expected_step_seconds

        hardware.update(threads.payload())
        expected = expected_step_seconds(cfg, threads.threads, threads.cores, threads.load)
    try:
        ctx.emit(ev.RUN_STARTED, pid=os.getpid(), pid_create_time=create_time, config=cfg.to_dict(),
                 hardware=hardware, resumed_from=resume, max_steps=cfg.max_steps,
                 expected_step_s=round(expected, 1) if expected else None)
        if threads is not None:
            ctx.log(threads.line() + (f"; a step expected to take ~{expected:.0f} s" if expected else ""))
            print(f"grpo-tui trainer: {threads.line()}", file=sys.stderr, flush=True)
    except OSError as exc:  # disk full / unwritable: nothing to train into
        return _log_unwritable(run, exc, "not started")
    _install_signal_handlers(ctx)
    watch = _watch_while_loading(ctx)
    status, error, tb = ev.FAILED, None, None
    try:
        from .backends import get_backend

        fail_at = os.environ.get(FAIL_ENV)
        if fail_at:
            _arm_failure(ctx, int(fail_at))
        backend = get_backend(cfg.backend)
        backend.check(ctx)
        status = backend.run(ctx)
    except StoppedBeforeTraining:
        status = ev.STOPPED
        ctx.log("stopped before training began; nothing was trained or saved")
    except BaseException as exc:  # noqa: BLE001 - every failure must end in a finished event
        status = ev.FAILED
        error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500] if str(exc) else type(exc).__name__
        tb = traceback.format_exc()
        print(tb, file=sys.stderr, flush=True)
    if watch is not None:
        watch.close()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        ctx.commit_held()  # a failed run's last steps
        ctx.emit(ev.FINISHED, status=status, error=error, traceback=tb,
                 log_tail=run.log_tail(40) if status == ev.FAILED else [],
                 adapter_path=ctx.extras.get("adapter_path"), stop_reason=ctx.stop_reason or None)
    except OSError as exc:  # even the finished event cannot be written: say so where we still can
        return _log_unwritable(run, exc, f"ended {status}" + (f" ({error})" if error else ""))
    events.close()
    samples.close()
    distributed.settle_collectives()  # several ranks: let gloo's threads finish before shutdown
    if status in (ev.COMPLETED, ev.STOPPED) and distributed.release_process_group():
        print("grpo-tui trainer: process group closed", file=sys.stderr, flush=True)
    return 0 if status in (ev.COMPLETED, ev.STOPPED) else 1


def _cpu_threads(cfg: RunConfig):
    """A CPU run's torch thread count from the cores free at launch (trainer.threads); None on a GPU."""
    if cfg.device != "cpu":
        return None
    from . import threads

    choice = threads.choose()
    threads.apply(choice)
    return choice


def _watch_while_loading(ctx):
    """Stop commands are taken while the model loads (trainer.loading_watch), in a run of one
    training process; with several, the ranks must stop together at a step boundary."""
    from . import distributed

    if distributed.world_size() > 1:
        ctx.stop_while_loading = False
        return None
    if not distributed.is_main_process():
        return None
    from .loading_watch import LoadingWatch

    return LoadingWatch(ctx).start()


def _log_unwritable(run: RunDir, exc: OSError, outcome: str) -> int:
    """One line on stderr (trainer.log) when the event log cannot be written; readers then show
    the run as crashed with this line as its log tail."""
    try:
        print(f"grpo-tui trainer: cannot write {run.events}: {exc.strerror or exc}; run {outcome}",
              file=sys.stderr, flush=True)
    except OSError:
        pass
    return 1


def _arm_failure(ctx, step: int) -> None:
    """Make the reward computation raise once the trainer reaches ``step`` (test hook)."""
    from .rewards import registry

    original = registry.build_reward_funcs

    def build(cfg):
        funcs, weights = original(cfg)
        inner = funcs[0]

        def failing(prompts, completions, completion_ids=None, **kwargs):
            state = kwargs.get("trainer_state")
            if state is not None and state.global_step >= step:
                raise RuntimeError(f"injected failure at step {state.global_step}")
            return inner(prompts, completions, completion_ids, **kwargs)

        failing.__name__ = inner.__name__
        return [failing, *funcs[1:]], weights

    import grpo_tui.trainer.rewards as rewards_pkg

    rewards_pkg.build_reward_funcs = build


if __name__ == "__main__":
    sys.exit(main())
