"""core.planning.hardware against a stand-in NVML (core.planning.fakenvml) presenting many machines,
plus `grpo-tui doctor` / `grpo-tui presets` output for each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from grpo_tui import cli
from grpo_tui.core.planning import fakenvml, hardware
from grpo_tui.core.planning.fakenvml import FakeNVML, FakeProcess, known

GIB = 1024**3


@pytest.fixture(autouse=True)
def _reset_backend(monkeypatch):
    monkeypatch.delenv(hardware.ENV_FAKE, raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    hardware.set_backend(None)
    yield
    hardware.set_backend(None)


def use(fake: FakeNVML) -> FakeNVML:
    hardware.set_backend(fake)
    return fake


MACHINES = {
    "nolib": lambda: FakeNVML(init_error="library_not_found"),
    "nogpu": lambda: FakeNVML([]),
    "t4": lambda: FakeNVML([known("T4")]),
    "4090": lambda: FakeNVML([known("RTX 4090")]),
    "h100": lambda: FakeNVML([known("H100")]),
    "mixed": lambda: FakeNVML([known("RTX 4090"), known("H100")]),
    "mig": lambda: fakenvml.from_spec("A100-MIG"),
    "notsupported": lambda: FakeNVML([known("RTX 4090", fail={
        "nvmlDeviceGetPowerUsage": "not_supported", "nvmlDeviceGetTemperature": "not_supported",
        "nvmlDeviceGetUtilizationRates": "not_supported"})]),
    "noperm": lambda: fakenvml.from_spec("4090-noperm"),
}


# -- detection ---------------------------------------------------------------------------
def test_no_library_is_a_reason_not_a_crash():
    use(MACHINES["nolib"]())
    hw = hardware.detect()
    assert hw.gpus == [] and not hw.has_gpu and hw.vram_gb is None
    assert "no NVIDIA driver" in hw.nvml_error
    assert hw.summary().startswith("CPU only")
    assert hw.host.cpu_count and hw.host.ram_total_bytes  # host info still there


def test_real_nvml_on_this_machine_never_raises():
    hw = hardware.detect()  # the real nvidia-ml-py: no driver here, a GPU on a GPU box
    assert hw.gpus or hw.nvml_error


def test_nvidia_ml_py_missing(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *a, **kw):
        if name == "pynvml":
            raise ImportError("No module named 'pynvml'")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(hardware, "_backend", None)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    hw = hardware.detect()
    assert hw.gpus == [] and "nvidia-ml-py is not installed" in hw.nvml_error


def test_no_gpu_and_mismatch_and_driver_not_loaded():
    use(FakeNVML([]))
    assert hardware.detect().nvml_error == "NVML works but reports no NVIDIA GPU"
    use(FakeNVML(init_error="mismatch"))
    assert "version mismatch" in hardware.detect().nvml_error
    use(FakeNVML(init_error="driver_not_loaded"))
    assert "driver not loaded" in hardware.detect().nvml_error


def test_one_t4():
    use(MACHINES["t4"]())
    hw = hardware.detect()
    (g,) = hw.gpus
    assert g.name == "Tesla T4" and g.total_gb == pytest.approx(15.0)
    assert g.compute_capability == (7, 5) and g.bf16 is False
    assert g.mig_enabled is None and g.reason("mig") == "Not Supported"  # pre-Ampere: no MIG
    assert hw.driver_version == "570.86.15" and hw.cuda_driver_version == "12.8"
    assert hw.vram_gb == pytest.approx(15.0)


def test_one_4090_and_one_h100():
    use(MACHINES["4090"]())
    g = hardware.detect().gpus[0]
    assert g.total_gb == pytest.approx(23.99, abs=0.01) and g.bf16 and g.mig_enabled is False
    use(MACHINES["h100"]())
    g = hardware.detect().gpus[0]
    assert g.name == "NVIDIA H100 80GB HBM3" and g.total_gb == pytest.approx(79.65, abs=0.01)
    assert g.compute_capability == (9, 0)


def test_two_mixed_gpus_best_is_the_larger():
    use(MACHINES["mixed"]())
    hw = hardware.detect()
    assert [g.index for g in hw.gpus] == [0, 1]
    assert hw.best_gpu.name.startswith("NVIDIA H100")
    assert "(+1 more)" in hw.summary()


def test_cuda_visible_devices_limits_the_plannable_gpu(monkeypatch):
    use(MACHINES["mixed"]())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    hw = hardware.detect()
    assert len(hw.gpus) == 2 and hw.best_gpu.name == "NVIDIA GeForce RTX 4090"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-fake-0001")
    assert hardware.detect().best_gpu.index == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    hw = hardware.detect()
    assert hw.best_gpu is None and hw.vram_gb is None and "hides every GPU" in hw.no_gpu_reason


def test_mig_plans_for_one_instance():
    use(MACHINES["mig"]())
    hw = hardware.detect()
    g = hw.gpus[0]
    assert g.mig_enabled is True and len(g.mig_instances) == 2
    assert g.total_gb == pytest.approx(40.0)
    assert hw.vram_gb == pytest.approx(19.5)  # one process gets one instance
    assert g.reason("processes.compute") == "Insufficient Permissions"
    assert g.reason("utilization") == "Not Supported"


def test_not_supported_fields_are_na_with_reason():
    use(MACHINES["notsupported"]())
    g = hardware.detect().gpus[0]
    assert g.power_w is None and g.temperature is None and g.utilization is None
    assert g.na["power"] == g.na["temperature"] == g.na["utilization"] == "Not Supported"
    assert g.total_gb is not None  # the rest still read


def test_no_permission_processes():
    use(MACHINES["noperm"]())
    g = hardware.detect().gpus[0]
    assert g.processes == [] and g.reason("processes.compute") == "Insufficient Permissions"
    assert g.power_w is None and g.reason("power") == "Insufficient Permissions"


def test_unified_memory_is_na():
    use(fakenvml.from_spec("H100-unified"))
    hw = hardware.detect()
    g = hw.gpus[0]
    assert g.total_bytes is None and g.unified_memory and hw.vram_gb is None
    assert "memory N/A (Not Supported)" in hw.summary()


def test_any_exception_from_a_call_is_contained():
    class Weird(FakeNVML):
        def nvmlDeviceGetUUID(self, h):
            raise RuntimeError("boom")

    use(Weird([known("T4")]))
    g = hardware.detect().gpus[0]
    assert g.uuid is None and g.na["uuid"] == "boom" and g.total_gb == pytest.approx(15.0)


def test_lazy_init_once():
    fake = FakeNVML([known("T4")])
    hardware.set_backend(fake)
    assert "nvmlInit" not in fake.calls  # nothing happens until the first read
    hardware.detect()
    hardware.detect()
    assert fake.calls.count("nvmlInit") == 1
    hardware.set_backend(None)  # swapping shuts the old backend down
    assert fake.calls[-1] == "nvmlShutdown"


def test_snapshot_is_json():
    use(MACHINES["mig"]())
    snap = json.loads(json.dumps(hardware.snapshot()))
    assert snap["gpus"][0]["plannable_gb"] == pytest.approx(19.5)
    assert snap["gpus"][0]["compute_capability"] == [8, 0]
    assert snap["host"]["ram_total_gb"] > 0 and snap["fake"] is True


def test_env_var_selects_a_fake(monkeypatch):
    monkeypatch.setenv(hardware.ENV_FAKE, "RTX 4090,T4")
    hw = hardware.detect()
    assert [g.name for g in hw.gpus] == ["NVIDIA GeForce RTX 4090", "Tesla T4"]
    monkeypatch.setenv(hardware.ENV_FAKE, "nolib")
    assert hardware.detect().gpus == []


def test_lookup_gpu_names():
    assert hardware.lookup_gpu("RTX 4090").memory_mib == 24564
    assert hardware.lookup_gpu("4090").name == "NVIDIA GeForce RTX 4090"
    assert hardware.lookup_gpu("Tesla T4").vram_gb == pytest.approx(15.0)
    assert hardware.lookup_gpu("a100-80").name == "NVIDIA A100-SXM4-80GB"
    assert hardware.lookup_gpu("H200").vram_gb == pytest.approx(140.4, abs=0.05)
    assert hardware.lookup_gpu("GTX 9999") is None and hardware.lookup_gpu("") is None


# -- per-process memory and the sampler ---------------------------------------------------
def _child():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])


def test_process_memory_sums_the_process_and_its_children():
    child = _child()
    try:
        me = os.getpid()
        gpu = known("H100", processes=[FakeProcess(me, 3 * GIB), FakeProcess(child.pid, 2 * GIB),
                                       FakeProcess(999999, 7 * GIB)])
        use(FakeNVML([gpu]))
        mem = hardware.process_memory([me])
        assert mem[me] == 5 * GIB  # own + child, not the stranger
        assert hardware.process_memory([123456789]) == {123456789: 0}
    finally:
        child.kill()
        child.wait()


def test_process_memory_not_available_is_none():
    me = os.getpid()
    use(FakeNVML([known("T4", processes=[FakeProcess(me, None)])]))
    assert hardware.process_memory([me]) == {me: None}


def test_sampler_reads_the_gpus_and_the_watched_processes_share():
    me = os.getpid()
    use(FakeNVML([known("RTX 4090", used_mib=4096, processes=[FakeProcess(me, 1 * GIB)])]))
    s = hardware.GpuSampler(pids=[me])
    last = s.sample_once()
    assert last.gpus[0].used_bytes == 4096 * 1024**2 and last.own_bytes == GIB
    s.watch([])
    assert s.sample_once().own_bytes is None  # nobody watched: no share


def test_sampler_own_share_unknown_without_permission():
    use(fakenvml.from_spec("4090-noperm"))
    s = hardware.GpuSampler(pids=[os.getpid()])
    assert s.sample_once().gpus[0].own_bytes is None


def test_sampler_thread_safety():
    """The app's watcher reads from its thread while the pid it watches changes."""
    use(MACHINES["mixed"]())
    s = hardware.GpuSampler()
    errors = []

    def reader(k):
        try:
            for i in range(200):
                s.watch([os.getpid()] if (i + k) % 2 else [])
                assert len(s.sample_once().gpus) == 2
        except Exception as exc:  # pragma: no cover - the failure we look for
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_sampler_with_no_gpu_records_the_reason():
    use(MACHINES["nolib"]())
    sample = hardware.GpuSampler().sample_once()
    assert sample.gpus == [] and "no NVIDIA driver" in sample.error


# -- the CLI for each machine -----------------------------------------------------------
def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


EXPECT_DOCTOR = {
    "nolib": ["none: no NVIDIA driver", "the CPU preset cpu-tiny will be used"],
    "nogpu": ["NVML works but reports no NVIDIA GPU", "cpu-tiny will be used"],
    "t4": ["Tesla T4", "15.0", "7.5", "no (fp16)"],
    "4090": ["NVIDIA GeForce RTX 4090", "24.0", "8.9"],
    "h100": ["NVIDIA H100 80GB HBM3", "79.6", "9.0"],
    "mixed": ["NVIDIA GeForce RTX 4090", "NVIDIA H100 80GB HBM3"],
    "mig": ["on (2 instances", "planning uses 19.5 GiB"],
    "notsupported": ["power: Not Supported", "temperature: Not Supported"],
    "noperm": ["processes.compute: Insufficient Permissions"],
}

# A preset is recommended only on a card of the class its name says, with real headroom (issue 15:
# a 24 GB RTX 4090 was recommended the 40-48 GB preset with 1.4 GiB spare).
EXPECT_RECOMMENDED = {"nolib": "cpu-tiny", "nogpu": "cpu-tiny", "t4": "gpu-16gb", "4090": "gpu-24gb",
                      "h100": "gpu-80gb", "mixed": "gpu-80gb", "mig": "gpu-16gb", "notsupported": "gpu-24gb",
                      "noperm": "gpu-24gb"}


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_doctor_output(machine, capsys):
    use(MACHINES[machine]())
    rc, out, err = run_cli(capsys, "doctor")
    assert rc == 0 and err == ""
    flat = " ".join(out.split())
    for piece in EXPECT_DOCTOR[machine]:
        assert " ".join(piece.split()) in flat, (piece, out)
    assert "Training stack" in out and "transformers" in out


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_doctor_json(machine, capsys):
    use(MACHINES[machine]())
    rc, out, _ = run_cli(capsys, "doctor", "--json")
    data = json.loads(out)
    assert rc == 0 and data["recommended"] == EXPECT_RECOMMENDED[machine]
    assert len(data["hardware"]["gpus"]) == len(MACHINES[machine]().gpus)
    assert {p["name"] for p in data["stack"]["packages"]} >= {"torch", "trl", "unsloth", "vllm"}


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_presets_output(machine, capsys):
    use(MACHINES[machine]())
    rc, out, _ = run_cli(capsys, "presets")
    assert rc == 0
    rec = EXPECT_RECOMMENDED[machine]
    assert f"* recommended: {rec}" in " ".join(out.split())
    marked = [line for line in out.splitlines() if line.startswith("*  ")]
    assert len(marked) == 1 and rec in marked[0]
    rc, out, _ = run_cli(capsys, "presets", "--json")
    data = json.loads(out)
    assert data["recommended"] == rec
    assert [p["name"] for p in data["presets"] if p["recommended"]] == [rec]
    if MACHINES[machine]().gpus and machine != "mig":
        assert data["target"]["detected"] and data["target"]["vram_gb"] > 10
