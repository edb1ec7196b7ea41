"""A stand-in for ``pynvml`` that presents any hardware.

NVML cannot run on a machine without an NVIDIA driver (CI, a laptop), so tests,
screenshots and demos use this instead, through
``hardware.set_backend(FakeNVML(...))`` or ``GRPO_TUI_FAKE_GPUS=<spec>``.
It implements only the functions ``core.planning.hardware`` calls, with pynvml's
signatures, and raises pynvml's own ``NVMLError`` subclasses (so the code under
test handles exactly what it would get from the real library).

Spec strings (``from_spec``): ``none`` (driver present, no GPU), ``nolib`` (no
driver library), ``mismatch`` (driver/library version mismatch), or a
comma-separated list of known GPU names (``"T4"``, ``"RTX 4090,H100"``), with
the suffixes ``-MIG`` (MIG mode, two half-size instances), ``-noperm``
(per-process and power queries denied), ``-unified`` (memory Not Supported).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

try:  # raise the real library's error classes when it is installed
    import pynvml as _pynvml

    NVMLError = _pynvml.NVMLError
    _CODES = {
        "uninitialized": _pynvml.NVML_ERROR_UNINITIALIZED,
        "not_supported": _pynvml.NVML_ERROR_NOT_SUPPORTED,
        "no_permission": _pynvml.NVML_ERROR_NO_PERMISSION,
        "not_found": _pynvml.NVML_ERROR_NOT_FOUND,
        "library_not_found": _pynvml.NVML_ERROR_LIBRARY_NOT_FOUND,
        "driver_not_loaded": _pynvml.NVML_ERROR_DRIVER_NOT_LOADED,
        "mismatch": _pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH,
        "invalid_argument": _pynvml.NVML_ERROR_INVALID_ARGUMENT,
    }
except Exception:  # pragma: no cover - nvidia-ml-py is a dependency

    class NVMLError(Exception):  # type: ignore[no-redef]
        _TEXT = {1: "Uninitialized", 2: "Invalid Argument", 3: "Not Supported", 4: "Insufficient Permissions",
                 6: "Not Found", 9: "Driver Not Loaded", 12: "NVML Shared Library Not Found",
                 18: "RM has detected an NVML/RM version mismatch."}

        def __init__(self, value: int):
            self.value = value
            super().__init__(self._TEXT.get(value, f"NVML error {value}"))

    _CODES = {"uninitialized": 1, "invalid_argument": 2, "not_supported": 3, "no_permission": 4, "not_found": 6,
              "driver_not_loaded": 9, "library_not_found": 12, "mismatch": 18}


def error(kind: str) -> Exception:
    return NVMLError(_CODES[kind])


@dataclass
class FakeProcess:
    pid: int
    used_bytes: int | None  # None -> NVML_VALUE_NOT_AVAILABLE


@dataclass
class FakeGpu:
    name: str
    memory_mib: int | None  # None: unified memory (NVML says Not Supported)
    cc: tuple[int, int] = (8, 0)
    used_mib: int = 0
    mig_instances_mib: list[int] | None = None  # MIG enabled when set
    processes: list[FakeProcess] = field(default_factory=list)
    utilization: int = 0
    temperature: int = 40
    power_mw: int = 70000
    power_limit_mw: int = 300000
    # function name -> error kind, e.g. {"nvmlDeviceGetPowerUsage": "not_supported"}
    fail: dict[str, str] = field(default_factory=dict)


class FakeNVML:
    """A pynvml-compatible object presenting ``gpus``."""

    IS_FAKE = True
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, gpus: list[FakeGpu] | None = None, *, init_error: str | None = None,
                 driver: str = "570.86.15", cuda: int = 12080, fail: dict[str, str] | None = None):
        self.gpus = list(gpus or [])
        self.init_error = init_error
        self.driver = driver
        self.cuda = cuda
        self.fail = dict(fail or {})  # system-level failures
        self.initialised = False
        self.calls: list[str] = []

    # -- helpers ---------------------------------------------------------------------
    def _enter(self, fname: str, gpu: FakeGpu | None = None) -> None:
        self.calls.append(fname)
        if not self.initialised:
            raise error("uninitialized")
        kind = (gpu.fail.get(fname) if gpu else None) or self.fail.get(fname)
        if kind:
            raise error(kind)

    def _gpu(self, handle: Any) -> FakeGpu:
        if isinstance(handle, tuple) and handle[0] == "gpu":
            return self.gpus[handle[1]]
        raise error("invalid_argument")

    # -- system ------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self.calls.append("nvmlInit")
        if self.init_error:
            raise error(self.init_error)
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.calls.append("nvmlShutdown")
        self.initialised = False

    def nvmlSystemGetDriverVersion(self) -> str:
        self._enter("nvmlSystemGetDriverVersion")
        return self.driver

    def nvmlSystemGetNVMLVersion(self) -> str:
        self._enter("nvmlSystemGetNVMLVersion")
        return "12." + self.driver

    def nvmlSystemGetCudaDriverVersion_v2(self) -> int:
        self._enter("nvmlSystemGetCudaDriverVersion_v2")
        return self.cuda

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.gpus)

    # -- devices -----------------------------------------------------------------------
    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any:
        self._enter("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.gpus):
            raise error("invalid_argument")
        return ("gpu", index)

    def nvmlDeviceGetName(self, h: Any) -> str:
        g = self._gpu(h)
        self._enter("nvmlDeviceGetName", g)
        return g.name

    def nvmlDeviceGetUUID(self, h: Any) -> str:
        g = self._gpu(h)
        self._enter("nvmlDeviceGetUUID", g)
        return f"GPU-fake-{h[1]:04d}"

    def nvmlDeviceGetMemoryInfo(self, h: Any) -> Any:
        if isinstance(h, tuple) and h[0] == "mig":
            g = self.gpus[h[1]]
            self._enter("nvmlDeviceGetMemoryInfo(mig)", g)
            total = (g.mig_instances_mib or [])[h[2]] * 1024**2
            return SimpleNamespace(total=total, used=0, free=total)
        g = self._gpu(h)
        self._enter("nvmlDeviceGetMemoryInfo", g)
        if g.memory_mib is None:
            raise error("not_supported")
        total, used = g.memory_mib * 1024**2, g.used_mib * 1024**2
        return SimpleNamespace(total=total, used=used, free=total - used)

    def nvmlDeviceGetCudaComputeCapability(self, h: Any) -> tuple[int, int]:
        g = self._gpu(h)
        self._enter("nvmlDeviceGetCudaComputeCapability", g)
        return g.cc

    def nvmlDeviceGetMigMode(self, h: Any) -> tuple[int, int]:
        g = self._gpu(h)
        self._enter("nvmlDeviceGetMigMode", g)
        if g.cc < (8, 0):
            raise error("not_supported")  # pre-Ampere cards have no MIG
        on = 1 if g.mig_instances_mib else 0
        return (on, on)

    def nvmlDeviceGetMaxMigDeviceCount(self, h: Any) -> int:
        g = self._gpu(h)
        self._enter("nvmlDeviceGetMaxMigDeviceCount", g)
        return 7 if g.mig_instances_mib else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h: Any, i: int) -> Any:
        g = self._gpu(h)
        self._enter("nvmlDeviceGetMigDeviceHandleByIndex", g)
        if i >= len(g.mig_instances_mib or []):
            raise error("not_found")
        return ("mig", h[1], i)

    def nvmlDeviceGetUtilizationRates(self, h: Any) -> Any:
        g = self._gpu(h)
        self._enter("nvmlDeviceGetUtilizationRates", g)
        if g.mig_instances_mib:
            raise error("not_supported")  # as on real MIG parents
        return SimpleNamespace(gpu=g.utilization, memory=0)

    def nvmlDeviceGetTemperature(self, h: Any, sensor: int) -> int:
        g = self._gpu(h)
        self._enter("nvmlDeviceGetTemperature", g)
        return g.temperature

    def nvmlDeviceGetPowerUsage(self, h: Any) -> int:
        g = self._gpu(h)
        self._enter("nvmlDeviceGetPowerUsage", g)
        return g.power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, h: Any) -> int:
        g = self._gpu(h)
        self._enter("nvmlDeviceGetEnforcedPowerLimit", g)
        return g.power_limit_mw

    def nvmlDeviceGetComputeRunningProcesses(self, h: Any) -> list[Any]:
        g = self._gpu(h)
        self._enter("nvmlDeviceGetComputeRunningProcesses", g)
        na = 0xFFFFFFFFFFFFFFFF
        return [SimpleNamespace(pid=p.pid, usedGpuMemory=na if p.used_bytes is None else p.used_bytes)
                for p in g.processes]

    def nvmlDeviceGetGraphicsRunningProcesses(self, h: Any) -> list[Any]:
        g = self._gpu(h)
        self._enter("nvmlDeviceGetGraphicsRunningProcesses", g)
        return []


def known(name: str, **kw: Any) -> FakeGpu:
    """A FakeGpu shaped like a known card (``hardware.KNOWN_GPUS``)."""
    from .gpus import lookup_gpu

    k = lookup_gpu(name)
    if k is None:
        raise ValueError(f"unknown GPU {name!r}")
    return FakeGpu(k.name, k.memory_mib, k.cc, **kw)


def from_spec(spec: str) -> FakeNVML:
    s = spec.strip()
    low = s.lower()
    if low in ("", "none", "0"):
        return FakeNVML([])
    if low == "nolib":
        return FakeNVML(init_error="library_not_found")
    if low == "mismatch":
        return FakeNVML(init_error="mismatch")
    if low == "nodriver":
        return FakeNVML(init_error="driver_not_loaded")
    gpus = []
    for part in s.split(","):
        name, *flags = part.strip().split("-")
        # keep names like "A100-80" whole: only known suffixes are flags
        known_flags = {"mig", "noperm", "unified"}
        base = [name] + [f for f in flags if f.lower() not in known_flags]
        fl = {f.lower() for f in flags if f.lower() in known_flags}
        g = known("-".join(base))
        if "mig" in fl and g.memory_mib:
            half = g.memory_mib // 2 - 512
            g.mig_instances_mib = [half, half]
            g.fail["nvmlDeviceGetComputeRunningProcesses"] = "no_permission"
        if "noperm" in fl:
            for f in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetPowerUsage",
                      "nvmlDeviceGetEnforcedPowerLimit"):
                g.fail[f] = "no_permission"
        if "unified" in fl:
            g.memory_mib = None
        gpus.append(g)
    return FakeNVML(gpus)
