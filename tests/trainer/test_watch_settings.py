"""`grpo-tui set` on a user's own script under watch(): the learning rate and reward weights change at a
step boundary; anything else is refused in one line (the script's own assumptions are not ours to break)."""

from __future__ import annotations

import pytest

from grpo_tui.core.run import events as ev

from test_watch import cli, start_script, the_run, wait_event


@pytest.mark.slow  # ~30 s: one real script, paused, changed, resumed, stopped
def test_a_watched_script_takes_learning_rate_and_reward_weights_only(tmp_path):
    proc, log = start_script(tmp_path, USER_STEPS="400")
    try:
        run = the_run(proc, log)
        wait_event(run, lambda e: e["type"] == ev.METRICS and e["step"] >= 2, proc, log)
        assert cli("pause", run.id, "--wait").returncode == 0
        refused = cli("set", run.id, "beta=0.1")
        assert refused.returncode == 2 and "beta: cannot change in a watched script" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        done = cli("set", run.id, "learning_rate=1e-3", "reward_weights.format_reward=0.5", "--wait")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "learning_rate 0.0001 -> 0.001" in done.stdout and "reward_weights.format_reward 1 -> 0.5" in done.stdout
        k = [e for e in ev.read_all(run.events)[0] if e["type"] == ev.SETTINGS_CHANGED][0]["step"]
        assert cli("resume", run.id, "--wait").returncode == 0
        wait_event(run, lambda e: e["type"] == ev.METRICS and e["step"] >= k + 3, proc, log)
        assert cli("stop", run.id, "--wait").returncode == 0
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    metrics = {e["step"]: e["metrics"] for e in ev.read_all(run.events)[0] if e["type"] == ev.METRICS}
    for s, m in metrics.items():  # the script's own linear schedule over 400 steps, peak changed at step k
        peak = 1e-4 if s <= k else 1e-3
        assert m["learning_rate"] == pytest.approx(peak * (400 - (s - 1)) / 400), (s, k)
        w = 1.0 if s <= k else 0.5
        assert m["reward"] == pytest.approx(w * m["rewards/format_reward/mean"] + m["rewards/correctness_reward/mean"],
                                            abs=1e-6), (s, k)
