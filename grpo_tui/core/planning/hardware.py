"""What hardware is this? GPUs through NVML, the host through psutil.

NVML is read through ``nvidia-ml-py`` (``import pynvml``), never through torch,
so `grpo-tui doctor`, the presets table and the app's hardware header cost no
CUDA context and work where torch has no CUDA build at all.

Robustness rules (the ones nvitop follows):

* lazy: NVML is initialised on first use, once, under a lock;
* every NVML call is guarded: a field that cannot be read is ``None`` and its
  reason (``"Not Supported"``, ``"Insufficient Permissions"``, ...) is kept in
  ``Gpu.na`` so the UI can show "N/A (reason)" instead of crashing;
* a machine where NVML cannot start at all (library missing, driver not
  loaded, driver/library version mismatch, no GPU) yields a ``Hardware`` with
  no GPUs and ``nvml_error`` saying why;
* MIG: a GPU in MIG mode reports its MIG instances' memory separately; its
  whole-card memory is still shown, flagged, and planning uses the largest
  instance a process can actually get;
* unified memory (Grace-Hopper / GB10 class): NVML reports no dedicated
  memory ("Not Supported"); the GPU is listed with memory N/A.

The backend is injectable: ``set_backend(module)`` swaps the ``pynvml`` module
for any object with the same functions (tests and screenshots use
``grpo_tui.core.planning.fakenvml``), and ``GRPO_TUI_FAKE_GPUS`` (e.g. ``"RTX 4090"``,
``"T4,H100"``, ``"none"``, ``"nolib"``, ``"A100-MIG"``) selects a fake from the
environment so a subprocess (the app, a snapshot test) can present any card.

API:
    detect() -> Hardware               one reading of every GPU + the host
    snapshot() -> dict                 ``detect().to_dict()`` for run.json "hardware"
    GpuSampler(pids=...).sample_once() one reading: GPU use + the memory those pids hold
    process_memory(pids) -> {pid: bytes}   per-process GPU memory (the trainer's own share)
    lookup_gpu("RTX 4090") -> KnownGpu     names -> VRAM for planning hardware you do not have
"""

from __future__ import annotations

import functools
import os
import platform
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from .gpus import KNOWN_GPUS, KnownGpu, lookup_gpu  # noqa: F401 (planning by name: part of this API)

GIB = 1024**3
MIB = 1024**2

ENV_FAKE = "GRPO_TUI_FAKE_GPUS"

# --------------------------------------------------------------------------------------
# Backend (pynvml or a stand-in) and its lazy, thread-safe initialisation
# --------------------------------------------------------------------------------------
_lock = threading.RLock()
_backend: Any = None  # the module-like object in use
_backend_forced = False  # set_backend() was called: do not consult env / pynvml
_init_state: tuple[bool, str | None] | None = None  # (ok, error) once tried
_env_fake: tuple[str, Any] | None = None  # (spec, FakeNVML) from GRPO_TUI_FAKE_GPUS


def set_backend(module: Any | None) -> None:
    """Use ``module`` (pynvml-compatible) from now on; ``None`` returns to automatic."""
    global _backend, _backend_forced, _init_state
    with _lock:
        _shutdown_locked()
        _backend = module
        _backend_forced = module is not None
        _init_state = None


def _shutdown_locked() -> None:
    global _init_state
    if _init_state and _init_state[0] and _backend is not None:
        try:
            _backend.nvmlShutdown()
        except Exception:
            pass
    _init_state = None


def _resolve_backend() -> tuple[Any | None, str | None]:
    global _backend
    if _backend_forced:
        return _backend, None
    spec = os.environ.get(ENV_FAKE)
    if spec is not None:
        global _env_fake, _init_state
        if _env_fake is None or _env_fake[0] != spec:
            from . import fakenvml

            _env_fake = (spec, fakenvml.from_spec(spec))
            _init_state = None
        return _env_fake[1], None
    if _backend is None:
        try:
            import pynvml  # nvidia-ml-py
        except Exception as exc:  # ImportError, or a broken install
            return None, f"nvidia-ml-py is not installed ({exc.__class__.__name__}: {exc})"
        _backend = pynvml
    return _backend, None


def _nvml() -> tuple[Any | None, str | None]:
    """(backend, None) when NVML is up, else (None, reason). Initialises once."""
    global _init_state
    with _lock:
        nv, err = _resolve_backend()
        if nv is None:
            return None, err
        if _init_state is None:
            try:
                nv.nvmlInit()
                _init_state = (True, None)
            except Exception as exc:
                _init_state = (False, _init_reason(exc))
        ok, err = _init_state
        return (nv, None) if ok else (None, err)


def _init_reason(exc: BaseException) -> str:
    text = _err_text(exc)
    low = text.lower()
    if "library not found" in low or "shared library" in low:
        return "no NVIDIA driver on this machine (NVML library not found)"
    if "driver not loaded" in low:
        return f"NVIDIA driver not loaded ({text})"
    if "mismatch" in low:
        return f"driver/library version mismatch ({text}): reboot or reinstall the NVIDIA driver"
    if "permission" in low:
        return f"no permission to query the GPU ({text})"
    return f"NVML failed to start ({text})"


def _err_text(exc: BaseException) -> str:
    try:
        s = str(exc)
    except Exception:
        s = ""
    return s or exc.__class__.__name__


class _Reader:
    """Call NVML functions, recording a reason instead of raising."""

    def __init__(self, nv: Any, na: dict[str, str]):
        self.nv = nv
        self.na = na

    def __call__(self, key: str, fname: str, *args: Any) -> Any:
        fn = getattr(self.nv, fname, None)
        if fn is None:
            self.na[key] = f"{fname} unavailable in this nvidia-ml-py"
            return None
        try:
            return fn(*args)
        except Exception as exc:
            self.na[key] = _err_text(exc)
            return None


def _s(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------
@dataclass
class GpuProcess:
    pid: int
    used_bytes: int | None  # None: NVML does not say (WDDM, MIG without permission, ...)
    kind: str = "compute"  # compute | graphics
    name: str = ""

    @property
    def used_gb(self) -> float | None:
        return None if self.used_bytes is None else self.used_bytes / GIB


@dataclass
class MigInstance:
    index: int
    total_bytes: int | None
    used_bytes: int | None


@dataclass
class Gpu:
    index: int
    name: str
    uuid: str | None = None
    total_bytes: int | None = None
    used_bytes: int | None = None
    free_bytes: int | None = None
    compute_capability: tuple[int, int] | None = None
    mig_enabled: bool | None = None
    mig_instances: list[MigInstance] = field(default_factory=list)
    utilization: int | None = None  # percent
    temperature: int | None = None  # Celsius
    power_w: float | None = None
    power_limit_w: float | None = None
    processes: list[GpuProcess] = field(default_factory=list)
    na: dict[str, str] = field(default_factory=dict)  # field -> why it is not available

    # -- derived -----------------------------------------------------------------------
    @property
    def total_gb(self) -> float | None:
        return None if self.total_bytes is None else self.total_bytes / GIB

    @property
    def used_gb(self) -> float | None:
        return None if self.used_bytes is None else self.used_bytes / GIB

    @property
    def free_gb(self) -> float | None:
        return None if self.free_bytes is None else self.free_bytes / GIB

    @property
    def bf16(self) -> bool | None:
        """bfloat16 needs compute capability 8.0 (Ampere) or newer."""
        return None if self.compute_capability is None else self.compute_capability >= (8, 0)

    @property
    def unified_memory(self) -> bool:
        return self.total_bytes is None and "memory" in self.na and "not supported" in self.na["memory"].lower()

    @property
    def plannable_gb(self) -> float | None:
        """Memory one training process can use: the largest MIG instance in MIG mode."""
        if self.mig_enabled and self.mig_instances:
            sizes = [m.total_bytes for m in self.mig_instances if m.total_bytes]
            return max(sizes) / GIB if sizes else None
        return self.total_gb

    def reason(self, key: str) -> str:
        return self.na.get(key, "")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["compute_capability"] = list(self.compute_capability) if self.compute_capability else None
        d.update(total_gb=self.total_gb, used_gb=self.used_gb, free_gb=self.free_gb, bf16=self.bf16,
                 unified_memory=self.unified_memory, plannable_gb=self.plannable_gb)
        return d


@dataclass
class Host:
    cpu_name: str = ""
    cpu_count: int | None = None
    ram_total_bytes: int | None = None
    ram_available_bytes: int | None = None
    os: str = ""
    python: str = ""

    @property
    def ram_total_gb(self) -> float | None:
        return None if self.ram_total_bytes is None else self.ram_total_bytes / GIB

    @property
    def ram_available_gb(self) -> float | None:
        return None if self.ram_available_bytes is None else self.ram_available_bytes / GIB


@dataclass
class Hardware:
    gpus: list[Gpu] = field(default_factory=list)
    driver_version: str | None = None
    cuda_driver_version: str | None = None  # the highest CUDA the driver supports, e.g. "12.4"
    nvml_version: str | None = None
    nvml_error: str | None = None  # why there is no GPU information at all
    host: Host = field(default_factory=Host)
    na: dict[str, str] = field(default_factory=dict)
    fake: bool = False  # a stand-in backend presented this

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    @property
    def visible_gpus(self) -> list[Gpu]:
        """The GPUs a CUDA process here can use (CUDA_VISIBLE_DEVICES: indices or UUIDs)."""
        env = os.environ.get("CUDA_VISIBLE_DEVICES")
        if env is None:
            return list(self.gpus)
        out: list[Gpu] = []
        for tok in (t.strip() for t in env.split(",")):
            if not tok:
                continue
            if tok.lstrip("-").isdigit():
                if int(tok) < 0:
                    break  # CUDA stops at the first invalid entry
                out += [g for g in self.gpus if g.index == int(tok)]
            else:
                out += [g for g in self.gpus if g.uuid and g.uuid.startswith(tok)]
        return out

    @property
    def best_gpu(self) -> Gpu | None:
        """The GPU a single-GPU run should use: the visible one with the most plannable memory."""
        visible = self.visible_gpus
        cands = [g for g in visible if g.plannable_gb]
        if not cands:
            return visible[0] if visible else None
        return max(cands, key=lambda g: (g.plannable_gb or 0, -g.index))

    @property
    def vram_gb(self) -> float | None:
        """Plannable VRAM of the best GPU (None: no GPU, or memory not reported)."""
        g = self.best_gpu
        return g.plannable_gb if g else None

    @property
    def no_gpu_reason(self) -> str:
        if self.gpus:
            if not self.visible_gpus:
                return f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')!r} hides every GPU"
            return ""
        return self.nvml_error or "NVML reports no NVIDIA GPU"

    def summary(self) -> str:
        """One line for headers: 'RTX 4090 24.0 GiB (+1 more)' or 'CPU only (reason)'."""
        g = self.best_gpu
        if g is None:
            return f"CPU only: {self.no_gpu_reason or 'no GPU'}"
        mem = f"{g.total_gb:.1f} GiB" if g.total_gb is not None else f"memory N/A ({g.reason('memory')})"
        more = f" (+{len(self.gpus) - 1} more)" if len(self.gpus) > 1 else ""
        mig = " MIG" if g.mig_enabled else ""
        return f"{g.name} {mem}{mig}{more}"

    def to_dict(self) -> dict[str, Any]:
        host = asdict(self.host)
        host.update(ram_total_gb=self.host.ram_total_gb, ram_available_gb=self.host.ram_available_gb)
        return {
            "gpus": [g.to_dict() for g in self.gpus],
            "driver_version": self.driver_version,
            "cuda_driver_version": self.cuda_driver_version,
            "nvml_version": self.nvml_version,
            "nvml_error": self.nvml_error,
            "host": host,
            "na": dict(self.na),
            "fake": self.fake,
            "best_gpu": None if self.best_gpu is None else self.best_gpu.index,
            "vram_gb": self.vram_gb,
            "summary": self.summary(),
        }


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------
def detect(*, processes: bool = True, host: bool = True) -> Hardware:
    """Read every GPU (and the host unless ``host=False``). Never raises."""
    hw = Hardware(host=host_info() if host else Host())
    nv, err = _nvml()
    if nv is None:
        hw.nvml_error = err
        return hw
    hw.fake = bool(getattr(nv, "IS_FAKE", False))
    with _lock:
        read = _Reader(nv, hw.na)
        hw.driver_version = _s(read("driver_version", "nvmlSystemGetDriverVersion"))
        hw.nvml_version = _s(read("nvml_version", "nvmlSystemGetNVMLVersion"))
        cuda = read("cuda_driver_version", "nvmlSystemGetCudaDriverVersion_v2")
        if cuda is None:
            cuda = read("cuda_driver_version", "nvmlSystemGetCudaDriverVersion")
        if isinstance(cuda, int) and cuda > 0:
            hw.cuda_driver_version = f"{cuda // 1000}.{(cuda % 1000) // 10}"
            hw.na.pop("cuda_driver_version", None)
        count = read("count", "nvmlDeviceGetCount")
        if count is None:
            hw.nvml_error = f"cannot count GPUs ({hw.na.get('count')})"
            return hw
        if count == 0:
            hw.nvml_error = "NVML works but reports no NVIDIA GPU"
            return hw
        for i in range(int(count)):
            hw.gpus.append(_read_gpu(nv, i, processes=processes))
    return hw


def _read_gpu(nv: Any, index: int, *, processes: bool) -> Gpu:
    na: dict[str, str] = {}
    read = _Reader(nv, na)
    h = read("handle", "nvmlDeviceGetHandleByIndex", index)
    if h is None:
        return Gpu(index=index, name=f"GPU {index} (unreadable: {na.get('handle')})", na=na)
    gpu = Gpu(index=index, name=_s(read("name", "nvmlDeviceGetName", h)) or f"GPU {index}", na=na)
    gpu.uuid = _s(read("uuid", "nvmlDeviceGetUUID", h))
    mem = read("memory", "nvmlDeviceGetMemoryInfo", h)
    if mem is not None:
        gpu.total_bytes, gpu.used_bytes, gpu.free_bytes = int(mem.total), int(mem.used), int(mem.free)
    cc = read("compute_capability", "nvmlDeviceGetCudaComputeCapability", h)
    if cc is not None:
        gpu.compute_capability = (int(cc[0]), int(cc[1]))
    mig = read("mig", "nvmlDeviceGetMigMode", h)
    if mig is not None:
        current = mig[0] if isinstance(mig, (tuple, list)) else mig
        gpu.mig_enabled = bool(current)
        if gpu.mig_enabled:
            gpu.mig_instances = _read_mig(nv, h, na)
    util = read("utilization", "nvmlDeviceGetUtilizationRates", h)
    if util is not None:
        gpu.utilization = int(util.gpu)
    temp = read("temperature", "nvmlDeviceGetTemperature", h, getattr(nv, "NVML_TEMPERATURE_GPU", 0))
    if temp is not None:
        gpu.temperature = int(temp)
    power = read("power", "nvmlDeviceGetPowerUsage", h)
    if power is not None:
        gpu.power_w = power / 1000.0
    limit = read("power_limit", "nvmlDeviceGetEnforcedPowerLimit", h)
    if limit is not None:
        gpu.power_limit_w = limit / 1000.0
    if processes:
        gpu.processes = _read_processes(nv, h, na)
    return gpu


def _read_mig(nv: Any, h: Any, na: dict[str, str]) -> list[MigInstance]:
    read = _Reader(nv, na)
    n = read("mig_count", "nvmlDeviceGetMaxMigDeviceCount", h) or 0
    out: list[MigInstance] = []
    for i in range(int(n)):
        sub: dict[str, str] = {}
        mh = _Reader(nv, sub)("mig", "nvmlDeviceGetMigDeviceHandleByIndex", h, i)
        if mh is None:  # NOT_FOUND for unpopulated slots is normal
            continue
        mem = _Reader(nv, sub)("mig_memory", "nvmlDeviceGetMemoryInfo", mh)
        out.append(MigInstance(i, int(mem.total) if mem else None, int(mem.used) if mem else None))
        if mem is None:
            na[f"mig{i}.memory"] = sub.get("mig_memory", "")
    return out


_NOT_AVAILABLE = {0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF}


def _read_processes(nv: Any, h: Any, na: dict[str, str]) -> list[GpuProcess]:
    out: dict[int, GpuProcess] = {}
    for kind, fname in (("compute", "nvmlDeviceGetComputeRunningProcesses"),
                        ("graphics", "nvmlDeviceGetGraphicsRunningProcesses")):
        procs = _Reader(nv, na)(f"processes.{kind}", fname, h)
        for p in procs or []:
            try:
                pid = int(p.pid)
            except Exception:
                continue
            used = getattr(p, "usedGpuMemory", None)
            used = None if used is None or int(used) in _NOT_AVAILABLE else int(used)
            if pid in out:  # listed as both: keep the larger figure
                prev = out[pid].used_bytes
                if used is not None and (prev is None or used > prev):
                    out[pid].used_bytes = used
                continue
            out[pid] = GpuProcess(pid, used, kind, _proc_name(pid))
    return list(out.values())


def _proc_name(pid: int) -> str:
    try:
        import psutil

        return psutil.Process(pid).name()
    except Exception:
        return ""


def host_info() -> Host:
    host = Host(os=f"{platform.system()} {platform.release()}".strip(), python=platform.python_version())
    try:
        import psutil

        vm = psutil.virtual_memory()
        host.ram_total_bytes, host.ram_available_bytes = int(vm.total), int(vm.available)
        host.cpu_count = psutil.cpu_count(logical=True)
    except Exception:
        host.cpu_count = os.cpu_count()
    host.cpu_name = _cpu_name()
    return host


@functools.lru_cache(maxsize=1)
def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def snapshot() -> dict[str, Any]:
    """The hardware as a JSON-able dict (run.json's "hardware")."""
    return detect().to_dict()


# --------------------------------------------------------------------------------------
# Per-process memory and the sampler
# --------------------------------------------------------------------------------------
def family(pids: Iterable[int]) -> set[int]:
    """The pids and all their descendants (vLLM may run an engine-core child)."""
    out: set[int] = set()
    try:
        import psutil
    except Exception:
        return {int(p) for p in pids}
    for pid in pids:
        out.add(int(pid))
        try:
            out.update(c.pid for c in psutil.Process(int(pid)).children(recursive=True))
        except Exception:
            pass
    return out


def process_memory(pids: Iterable[int], hw: Hardware | None = None) -> dict[int, int | None]:
    """GPU memory per pid (and descendants, summed into the given pid), over all GPUs."""
    hw = hw or detect()
    result: dict[int, int | None] = {}
    for root in pids:
        members = family([root])
        total: int | None = None
        seen = False
        for g in hw.gpus:
            for p in g.processes:
                if p.pid in members:
                    seen = True
                    if p.used_bytes is not None:
                        total = (total or 0) + p.used_bytes
        result[int(root)] = total if seen else 0
    return result


@dataclass
class GpuReading:
    index: int
    used_bytes: int | None
    total_bytes: int | None
    utilization: int | None
    temperature: int | None
    power_w: float | None
    own_bytes: int | None  # the watched processes' share on this GPU (None: not reported)


@dataclass
class Sample:
    ts: float
    gpus: list[GpuReading]
    error: str | None = None

    @property
    def own_bytes(self) -> int | None:
        vals = [g.own_bytes for g in self.gpus if g.own_bytes is not None]
        return sum(vals) if vals else None


class GpuSampler:
    """One NVML reading on demand: every GPU's use, and the memory held by ``pids`` (their
    descendants too; change them with ``watch(pids)``). The polling belongs to the caller
    (the app's resource watcher runs it in its own thread, tui.watcher)."""

    def __init__(self, pids: Iterable[int] = ()):
        self._pids = {int(p) for p in pids}
        self._lock = threading.Lock()

    def watch(self, pids: Iterable[int]) -> None:
        with self._lock:
            self._pids = {int(p) for p in pids}

    def sample_once(self) -> Sample:
        with self._lock:
            pids = set(self._pids)
        hw = detect(processes=bool(pids), host=False)
        members = family(pids) if pids else set()
        readings = []
        for g in hw.gpus:
            own: int | None = None
            if members:
                shares = [p.used_bytes for p in g.processes if p.pid in members]
                if any(s is not None for s in shares):
                    own = sum(s for s in shares if s is not None)
                elif not shares and "processes.compute" not in g.na:
                    own = 0
            readings.append(GpuReading(g.index, g.used_bytes, g.total_bytes, g.utilization,
                                       g.temperature, g.power_w, own))
        return Sample(time.time(), readings, hw.nvml_error)
