"""The dashboard's header says where a step's time goes when vLLM generates (trainer.vllm_cpu logs
``vllm/generate_s`` and ``vllm/sync_s``), and says nothing of vLLM for a run without it."""

from __future__ import annotations

from grpo_tui.core.run import events as ev
from grpo_tui.core.run import metric_names as M

from test_dashboard import DashApp, header_text, loaded
from tui_helpers import synthetic_run


def _run_with(metrics: dict | None):
    run = synthetic_run("vllm-timing", steps=2, state="live")
    if metrics:
        with ev.EventWriter(run.events) as w:
            w.emit(ev.METRICS, step=3, metrics={"reward": 0.3, **metrics})
    return run


async def test_header_shows_the_last_steps_generation_and_sync_seconds():
    app = DashApp(_run_with({M.VLLM_GENERATE_S: 12.345, M.VLLM_SYNC_S: 0.81}))
    async with app.run_test(size=(200, 40)) as pilot:
        await loaded(pilot)
        await pilot.pause(0.2)
        assert "vLLM gen 12.3s sync 0.8s" in header_text(app)


async def test_no_vllm_no_vllm_figures():
    app = DashApp(_run_with(None))
    async with app.run_test(size=(200, 40)) as pilot:
        await loaded(pilot)
        await pilot.pause(0.2)
        text = header_text(app)
        assert "step 2/20" in text and "vLLM" not in text
