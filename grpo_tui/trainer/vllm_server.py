"""TRL's vLLM server mode: generation on its own GPU, training on the others.

When one GPU cannot hold both the vLLM engine and training, TRL's own route is
``trl vllm-serve`` on a second GPU with the trainer talking to it
(``GRPOConfig(use_vllm=True, vllm_mode="server")``). grpo-tui starts that server
from the trainer process, on the GPU the launcher set aside for it (``SERVER_GPU_ENV``:
the trainer's own ``CUDA_VISIBLE_DEVICES`` leaves it out, so transformers sees one GPU
and TRL does not refuse ``n_gpu`` > 1), bound to loopback, waits for its
health endpoint, and stops it (its whole process group) when the run ends, however
it ends. No scheduler of our own: this is TRL's server and TRL's client.

UNVERIFIED ON HARDWARE: the command, health check and teardown are tested with a
stand-in HTTP server on 127.0.0.1 (tests/test_gpu_server.py), never with vLLM.

Import-light: no torch / trl at module level.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

from ..core.settings.config import RunConfig
from .distributed import SERVER_GPU_ENV

HOST = "127.0.0.1"  # loopback only: the server has no authentication
HEALTH_PATHS = ("/health", "/health/")  # vLLM's route; older `trl vllm-serve` answered /health/
SERVER_GPU_MEMORY_UTILIZATION = 0.9  # the server's GPU is its own (TRL's default for vllm-serve)
LOG_NAME = "vllm-server.log"


class VllmServerError(RuntimeError):
    """The server did not come up; the message is one line and names its log."""


def trl_executable() -> list[str]:
    """``trl`` from the same environment as this Python (never one from PATH that may belong to another)."""
    exe = Path(sys.executable).with_name("trl")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "trl.cli.main"]


def served_model(cfg: RunConfig, model: str) -> str:
    """What ``--model`` gets: vLLM loads a hub id or a folder, never ``builtin:tiny`` or a ``~`` path."""
    if model.startswith("builtin:"):
        from .tiny import ensure_tiny

        return str(ensure_tiny(cfg))
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() or model.startswith(("~", "/", ".")) else model


def serve_command(cfg: RunConfig, model: str, port: int, host: str = HOST) -> list[str]:
    argv = [*trl_executable(), "vllm-serve",
            "--model", model,
            "--host", host,
            "--port", str(port),
            "--gpu_memory_utilization", str(SERVER_GPU_MEMORY_UTILIZATION),
            "--max_model_len", str(cfg.max_seq_length)]
    if cfg.dtype != "auto":
        argv += ["--dtype", cfg.dtype]
    return argv


def split_gpus(n_gpus: int) -> tuple[list[int], int]:
    """(training GPUs, server GPU): the server takes the last one."""
    if n_gpus < 2:
        from .vllm_cpu import SERVER_ON_CPU

        fix = SERVER_ON_CPU if n_gpus == 0 else "use --set vllm_mode=colocate, or the unsloth backend"
        raise VllmServerError(f"vllm_mode=server needs 2 GPUs (one for the vLLM server), {n_gpus} visible: {fix}")
    return list(range(n_gpus - 1)), n_gpus - 1


def serve_env(gpu: int, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible:  # keep the user's numbering: the n-th visible device
        ids = [v.strip() for v in visible.split(",") if v.strip()]
        env["CUDA_VISIBLE_DEVICES"] = ids[gpu] if gpu < len(ids) else str(gpu)
    else:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    return env


def free_port(preferred: int, host: str = HOST) -> int:
    """``preferred`` when nothing listens there, else a free port the OS picks."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise VllmServerError(f"no free port on {host}")


class VllmServer:
    """One server process: start, wait until healthy, stop (process group: SIGTERM, then SIGKILL)."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, host: str = HOST, port: int = 8000):
        self.argv, self.env, self.log_path, self.host, self.port = argv, env, Path(log_path), host, port
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "VllmServer":
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=fd,
                                         stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        finally:
            os.close(fd)
        return self

    def healthy(self, timeout: float = 2.0) -> bool:
        for path in HEALTH_PATHS:
            try:
                with urllib.request.urlopen(self.base_url + path, timeout=timeout) as resp:
                    if resp.status == 200:
                        return True
            except (urllib.error.URLError, OSError, ValueError):
                continue
        return False

    def _last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
            return lines[-1][:200] if lines else ""
        except OSError:
            return ""

    def wait_healthy(self, timeout: float = 900.0, interval: float = 1.0,
                     progress: Callable[[float], None] | None = None) -> float:
        """Seconds it took; VllmServerError when the server exits or stays silent past ``timeout``."""
        t0 = time.monotonic()
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise VllmServerError(f"vLLM server exited with code {self.proc.returncode} before answering "
                                      f"{self.base_url}/health ({self._last_log_line() or 'no output'}); "
                                      f"see {self.log_path}")
            if self.healthy():
                return time.monotonic() - t0
            elapsed = time.monotonic() - t0
            if elapsed >= timeout:
                self.stop()
                raise VllmServerError(f"vLLM server did not answer {self.base_url}/health within {timeout:.0f}s; "
                                      f"see {self.log_path}")
            if progress:
                progress(elapsed)
            time.sleep(interval)

    def stop(self, timeout: float = 15.0) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)  # the server's own session: vLLM's workers go with it
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue

    def grpo_overrides(self) -> dict[str, Any]:
        return {"use_vllm": True, "vllm_mode": "server", "vllm_server_host": self.host,
                "vllm_server_port": self.port}

    def __enter__(self) -> "VllmServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cuda_device_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@contextlib.contextmanager
def server_for_run(ctx: Any, model: str, *, n_gpus: int | None = None,
                   command: Callable[[RunConfig, str, int], list[str]] | None = None,
                   health_timeout: float = 900.0) -> Iterator[dict[str, Any]]:
    """For a run with ``use_vllm`` and ``vllm_mode=server``: start the server, yield the GRPOConfig
    overrides that point TRL at it, stop it on exit. Other runs: yields {} and does nothing."""
    cfg = ctx.cfg
    if not (cfg.use_vllm and cfg.vllm_mode == "server"):
        yield {}
        return
    from .distributed import is_main_process

    if not is_main_process():  # under accelerate only the main process talks to the server (TRL's rule)
        yield {"use_vllm": True, "vllm_mode": "server", "vllm_server_host": HOST,
               "vllm_server_port": cfg.vllm_server_port}
        return
    handed = os.environ.get(SERVER_GPU_ENV)
    if handed and n_gpus is None:  # the launcher's choice, named as its CUDA_VISIBLE_DEVICES names it
        gpu: int | str = handed
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=handed)
    else:  # started by hand: the last GPU this process sees
        _, gpu = split_gpus(cuda_device_count() if n_gpus is None else n_gpus)
        env = serve_env(gpu)
    port = free_port(cfg.vllm_server_port)
    argv = (command or serve_command)(cfg, served_model(cfg, model), port)
    server = VllmServer(argv, env, ctx.run.path / LOG_NAME, HOST, port)
    ctx.phase("starting_vllm_server", f"starting the vLLM server on GPU {gpu} ({HOST}:{port})")
    server.start()
    from .context import Throttle

    throttle = Throttle(10.0)

    def waiting(elapsed: float) -> None:
        if throttle.ready():
            ctx.phase("starting_vllm_server", f"waiting for the vLLM server on GPU {gpu} ({elapsed:.0f}s)")

    try:
        took = server.wait_healthy(health_timeout, progress=waiting)
        ctx.log(f"vLLM server ready on {HOST}:{port} (GPU {gpu}) in {took:.0f}s; log: {server.log_path}")
        ctx.extras["vllm_server"] = server
        yield server.grpo_overrides()
    finally:
        server.stop()
        ctx.log("vLLM server stopped")
