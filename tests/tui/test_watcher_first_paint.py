"""The run watcher reads a run's history only once the dashboard has painted the newest step (or
after SHOWN_WAIT_S): the history read holds the GIL, and the first frame comes first."""

from __future__ import annotations

import os
import threading
import time

from grpo_tui.core.reading.monitor import RunMonitor
from grpo_tui.tui import watcher as watcher_mod

from tui_helpers import synthetic_run


class Inbox:
    """Stands where the screen would: collects the watcher's messages."""

    def __init__(self) -> None:
        self.got = threading.Event()

    def post_message(self, message) -> bool:
        self.got.set()
        return True


def test_history_waits_for_the_first_paint_then_is_read_whole(monkeypatch):
    monkeypatch.setattr(watcher_mod, "SHOWN_WAIT_S", 30.0)  # a loaded box must not end the wait early
    run = synthetic_run("20260105-000000-history", steps=200, max_steps=200)
    monitor, inbox = RunMonitor(run), Inbox()
    w = watcher_mod.RunWatcher(monitor, inbox)
    w.start()
    try:
        assert inbox.got.wait(5), "no preview posted"
        assert monitor.snapshot(series=()).summary.step == 200  # the preview: the newest step
        time.sleep(0.3)  # nothing of the history read yet: it waits for the paint
        assert monitor.events_reader.offset == 0 and not w.caught_up.is_set()
        w.shown.set()  # the screen painted
        assert w.caught_up.wait(5), "the history was not read after the first paint"
        assert monitor.events_reader.offset == os.path.getsize(run.events)
    finally:
        w.stop()


def test_a_screen_that_never_paints_delays_the_history_only_so_long(monkeypatch):
    monkeypatch.setattr(watcher_mod, "SHOWN_WAIT_S", 0.3)
    run = synthetic_run("20260105-000000-hidden", steps=50, max_steps=50)
    monitor = RunMonitor(run)
    w = watcher_mod.RunWatcher(monitor, Inbox())
    t0 = time.monotonic()
    w.start()
    try:
        assert w.caught_up.wait(5), "never caught up without a paint"
        assert time.monotonic() - t0 >= 0.3
        assert monitor.events_reader.offset == os.path.getsize(run.events)
    finally:
        w.stop()


def test_stopping_before_the_first_paint_does_not_wait_out_the_cap(monkeypatch):
    monkeypatch.setattr(watcher_mod, "SHOWN_WAIT_S", 30.0)
    run = synthetic_run("20260105-000000-closed", steps=20, max_steps=20)
    inbox = Inbox()
    w = watcher_mod.RunWatcher(RunMonitor(run), inbox)
    w.start()
    assert inbox.got.wait(5)
    t0 = time.monotonic()
    w.stop(timeout=5)
    assert time.monotonic() - t0 < 2 and w._thread is None
