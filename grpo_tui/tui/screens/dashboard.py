"""The live dashboard of one run: ``DashboardScreen(run)``.

Layout (120x40 and up: two columns; narrower or shorter: one column that scrolls,
keys 1-5 jump to a panel)::

    header: run, preset, model, STATE, step/total, elapsed, ETA, steps/s, tok/s, command ack
    banner: crash / failure (traceback tail + trainer.log path), reader problems
    loading: phase name, message, progress bar (while the model / engine loads)
    [ rewards chart + legend + reward_std ] [ memory: VRAM per GPU or RAM ]
    [ completion lengths + histogram      ] [ health trends + alerts       ]
    [ latest samples: the newest group, reasoning and answer, rewards per row ]

Data flow: ``RunWatcher`` (a thread) tails the run directory into a ``RunMonitor``
and posts coalescing ``RunChanged`` messages; this screen redraws from one
``snapshot()`` at most ``MAX_FPS`` times a second, charts only when metrics
changed (so they hold still while the run is paused). Commands go through
``RunDir.send_command``; the trainer's ``control`` event is the acknowledgement
shown in the header.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer

from ...core.reading.monitor import RunMonitor, Snapshot
from ...core.run.stall import GpuIdle
from ...core.run.rundir import LAUNCHING, LIVE_STATES, LOADING, PAUSED, STOPPING, TRAINING, RunDir
from ..watcher import ResourcesSampled, ResourceSampler, RunChanged, RunWatcher
from ..widgets.literal import visible
from ..widgets.panels import (HealthPanel, LengthsPanel, LoadingPanel, MemoryPanel, Panel, RewardsPanel,
                              RunHeader, SamplesPanel, StatusBanner)
from .confirm import StopConfirm

MAX_FPS = 4.0  # redraws per second at most; GRPO_TUI_FPS overrides (e.g. 1 over a slow SSH link)


def _coarse(nbytes: int | None) -> int | None:
    """Bytes rounded to about 1% (two significant digits in binary terms) for change detection."""
    if nbytes is None or nbytes <= 0:
        return nbytes
    shift = max(0, nbytes.bit_length() - 7)
    return nbytes >> shift << shift


class DashboardScreen(Screen):
    BINDINGS = [
        Binding("p", "pause", "Pause"),
        Binding("r", "resume", "Resume"),
        Binding("c", "checkpoint", "Checkpoint"),
        Binding("x", "stop", "Stop"),
        Binding("s", "samples", "Samples"),
        Binding("e", "export", "Export"),
        Binding("escape", "back", "Runs"),
        Binding("1", "jump('rewards-panel')", "Rewards", show=False),
        Binding("2", "jump('lengths-panel')", "Lengths", show=False),
        Binding("3", "jump('health-panel')", "Health", show=False),
        Binding("4", "jump('memory-panel')", "Memory", show=False),
        Binding("5", "jump('samples-panel')", "Samples", show=False),
    ]

    DEFAULT_CSS = """
    DashboardScreen { layout: vertical; }
    DashboardScreen #body { height: 1fr; scrollbar-size-vertical: 1; }
    DashboardScreen #panels { grid-size: 2; grid-columns: 3fr 2fr; grid-rows: 14 13; height: auto;
                              grid-gutter: 0 0; }
    DashboardScreen #rewards-panel { row-span: 1; }
    DashboardScreen.narrow #panels { grid-size: 1; grid-columns: 1fr; grid-rows: 13; }
    DashboardScreen #lengths-hist { height: 3; }
    DashboardScreen #memory-trend { height: 2; margin-top: 1; }
    DashboardScreen.narrow #samples-panel { height: 16; }
    """

    NARROW_WIDTH = 110
    NARROW_HEIGHT = 34

    def __init__(self, run: RunDir, *, clock: Callable[[], float] = time.time, resources: bool = True,
                 poll_interval: float = 0.25, open_browser_on_pause: bool = True) -> None:
        super().__init__()
        self.run = run
        self.monitor = RunMonitor(run, clock=clock)
        self.clock = clock
        self.watcher = RunWatcher(self.monitor, self, interval=poll_interval)
        self.sampler = ResourceSampler(self) if resources else None
        self.open_browser_on_pause = open_browser_on_pause
        try:
            self.max_fps = max(0.2, float(os.environ.get("GRPO_TUI_FPS", MAX_FPS)))
        except ValueError:
            self.max_fps = MAX_FPS
        self.snap: Snapshot | None = None
        self.rendered_version = -1
        self._charts_version = -1
        self._memory_key: object = None
        self._behind = False
        self._health_key: tuple[int, int] | None = None
        self._last_render = 0.0
        self._render_timer: Any = None
        self._pending: dict[str, str] = {}  # command id -> command, sent from here, not yet acknowledged
        self._ack: Text | None = None
        self._seen_control: str | None = None
        self._alerts_seen: int | None = None
        self._state: str | None = None
        self._gpu_idle = GpuIdle()

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        yield StatusBanner(id="banner")
        yield LoadingPanel(id="loading")
        with VerticalScroll(id="body"):
            with Grid(id="panels"):
                yield RewardsPanel()
                yield MemoryPanel()
                yield LengthsPanel()
                yield HealthPanel()
            yield SamplesPanel()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(SamplesPanel).set_tags(self.monitor.info.get("config") or {})
        self._apply_size()
        self.query_one("#body").focus()
        self.watcher.start()
        if self.sampler is not None:
            self.sampler.start()
        self.set_interval(1.0, self._tick)

    def on_unmount(self) -> None:
        self.watcher.stop()
        if self.sampler is not None:
            self.sampler.stop()

    def on_resize(self) -> None:
        self._apply_size()

    def on_screen_resume(self) -> None:
        if self._behind:
            self._behind = False
            self._schedule_render()

    def _apply_size(self) -> None:
        w, h = self.app.size
        self.set_class(w < self.NARROW_WIDTH or h < self.NARROW_HEIGHT, "narrow")

    # -- updates ----------------------------------------------------------------------------
    @on(RunChanged)
    def _on_run_changed(self, message: RunChanged) -> None:
        self._schedule_render()

    @on(ResourcesSampled)
    def _on_resources(self, message: ResourcesSampled) -> None:
        self._gpu_idle_check()
        if self.snap is not None and self.is_active:
            self._show_memory(self.snap)

    def _gpu_idle_check(self) -> None:
        """Feed the stall check: the trainer's GPUs idle (utilisation ~0) with flat memory since when."""
        if self.sampler is None or self.snap is None or self.snap.state not in (TRAINING, STOPPING):
            self._gpu_idle.feed(0.0, 100, 0)  # not training: no idle stretch
            self.monitor.gpu_idle_since = None
            return
        res = self.sampler.readings()
        mine = [g for g in res.gpus if g.own] or res.gpus  # the GPUs holding the trainer's memory
        if not mine or any(g.util is None or g.used is None for g in mine):
            return
        self.monitor.gpu_idle_since = self._gpu_idle.feed(res.ts, max(g.util for g in mine),
                                                          sum(g.used for g in mine))

    def _show_memory(self, snap: Snapshot) -> None:
        """Redraw the memory panel only when what it shows changed (each redraw costs terminal bytes)."""
        res = self.sampler.readings() if self.sampler else None
        # Live readings change every second; redraw for a visible change (~1%) or every 5th sample (trend).
        key = (snap.metrics_version, snap.state,
               None if res is None else (tuple((_coarse(g.used), _coarse(g.own)) for g in res.gpus),
                                         _coarse(res.rss), res.gpu_error, len(res.rss_history) // 5,
                                         max((len(v) for v in res.used_history.values()), default=0) // 5))
        if key != self._memory_key:
            self._memory_key = key
            self.query_one(MemoryPanel).show(snap, res)

    def _schedule_render(self) -> None:
        if self._render_timer is not None:
            return  # a render is already due; it will read the newest snapshot
        delay = max(0.0, self._last_render + 1.0 / self.max_fps - time.monotonic())
        if delay == 0.0:
            self._render_now()
        else:
            self._render_timer = self.set_timer(delay, self._render_now)

    def _tick(self) -> None:
        """Once a second: the elapsed clock and ETA move while a run is live."""
        if (self.snap is not None and self.snap.live and self.snap.state != PAUSED
                and self._render_timer is None and self.is_active):  # a pending render redraws it anyway
            snap = self.monitor.snapshot(series=())
            if snap.state != self.snap.state:
                # The run moved on (finished, crashed, paused): the banner, panels and key bindings must
                # change with the header, so this is a full render, not a header-only one.
                self._schedule_render()
                return
            self.query_one(RunHeader).show(snap, self._ack if snap.live else None)

    def _render_now(self) -> None:
        self._render_timer = None
        self._last_render = time.monotonic()
        m = self.monitor
        wanted = dict.fromkeys(key for panel in self.query(Panel) for key in panel.series(m.reward_components))
        snap = m.snapshot(series=tuple(wanted))  # what the panels declare they draw, nothing more
        self.snap = snap
        self._track_commands(snap)
        self._notify_alerts(snap)
        if not self.is_active:
            # Under another screen (the sample browser): Textual repaints the top screen wherever a
            # screen below it changed, so drawing here would cost the browser full repaints. Catch up
            # when this screen is shown again.
            self._behind = True
            return
        self.query_one(RunHeader).show(snap, self._ack if snap.live else None)
        self.query_one(StatusBanner).show(snap, str(self.run.trainer_log), self.watcher.error)
        self.query_one(LoadingPanel).show(snap)
        # While paused no metrics arrive, so the charts hold still by themselves; they still take the
        # step the trainer finished just before pausing (its metrics and the ack share one poll).
        if snap.metrics_version != self._charts_version:
            self._charts_version = snap.metrics_version
            self.query_one(RewardsPanel).show(snap)
            self.query_one(LengthsPanel).show(snap)
        if (snap.metrics_version, snap.alert_count) != self._health_key:
            self._health_key = (snap.metrics_version, snap.alert_count)
            self.query_one(HealthPanel).show(snap)
        self._show_memory(snap)
        self.query_one(SamplesPanel).show(snap)
        if self.sampler is not None:
            self.sampler.watch(snap.summary.pid if snap.live else None)
        if snap.state != self._state:
            self._state = snap.state
            self.refresh_bindings()

        self.rendered_version = snap.version
        if not self.watcher.shown.is_set():
            self.call_after_refresh(self.watcher.shown.set)  # painted: the watcher may read the history

    def _track_commands(self, snap: Snapshot) -> None:
        ctl = snap.last_control
        if not ctl or ctl.get("id") == self._seen_control:
            return
        # Controls read while attaching are history: their ack is shown (it says why a run is paused)
        # but never acted on -- attaching to a paused run shows the dashboard, not the browser.
        history = (not self.watcher.caught_up.is_set()
                   or ctl.get("id") == self.watcher.attach_control_id)
        self._seen_control = ctl.get("id")
        cmd, state = ctl.get("command"), ctl.get("state")
        ours = self._pending.pop(str(ctl.get("id")), None) is not None
        if ctl.get("error"):
            self._ack = Text(f"{visible(cmd, one_line=True)} refused: {visible(ctl['error'], one_line=True)}",
                             style="bold red")
            return
        self._ack = Text(f"✓ {visible(cmd, one_line=True)} acknowledged at step {ctl.get('step')}"
                         f" ({visible(state, one_line=True)})", style="bold green" if ours else "green")
        if (cmd == "pause" and state == PAUSED and self.open_browser_on_pause and not history
                and self.is_active):
            self.call_later(self.action_samples)

    def _notify_alerts(self, snap: Snapshot) -> None:
        if not self.watcher.caught_up.is_set():
            return
        if self._alerts_seen is None:
            # What fired before attaching is on the panel, not in toasts. The count is the watcher's at
            # catch-up: an alert that arrives before this screen's next render is still news.
            self._alerts_seen = self.watcher.attach_alert_count
        new = snap.alert_count - self._alerts_seen
        self._alerts_seen = snap.alert_count
        for a in snap.alerts[-min(new, 3):] if new > 0 else []:
            crit = a.get("severity") == "critical"
            self.notify(visible(a.get("message") or "", one_line=True, limit=200),
                        title=visible(a.get("code") or "alert", one_line=True, limit=40),
                        severity="error" if crit else "warning", markup=False, timeout=8)

    # -- actions -----------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        state = self.snap.state if self.snap is not None else None
        live = state in LIVE_STATES
        if action == "pause":
            return live and state not in (PAUSED, STOPPING)
        if action == "resume":
            return state == PAUSED
        if action == "checkpoint":
            return state in (TRAINING, PAUSED)
        if action == "stop":
            return live and state != STOPPING
        return True

    def _send(self, command: str) -> None:
        try:
            cid = self.run.send_command(command)
        except (OSError, ValueError) as exc:
            self.notify(f"could not send {command}: {exc}", severity="error", markup=False)
            return
        self._pending[cid] = command
        self._ack = Text(f"{command} sent — waiting for the step boundary…", style="italic yellow")
        if self.snap is not None:
            self.query_one(RunHeader).show(self.snap, self._ack)

    def action_pause(self) -> None:
        self._send("pause")

    def action_resume(self) -> None:
        self._send("resume")

    def action_checkpoint(self) -> None:
        self._send("checkpoint")

    def action_stop(self) -> None:
        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._send("stop")

        # Several training processes leave together at the first step boundary instead.
        one_process = int((self.monitor.info.get("config") or {}).get("num_processes") or 1) <= 1
        loading = self.snap is not None and self.snap.state in (LAUNCHING, LOADING) and one_process
        self.app.push_screen(StopConfirm(self.run.id, loading=loading), done)

    def action_samples(self) -> None:
        try:
            from .samples import SampleBrowserScreen
        except ImportError as exc:
            self.notify(f"the sample browser is not available ({exc})", severity="warning", markup=False)
            return
        if isinstance(self.app.screen, SampleBrowserScreen):
            return
        self.app.push_screen(SampleBrowserScreen(self.run))

    def action_export(self) -> None:
        try:
            from .export import ExportScreen
        except ImportError as exc:
            self.notify(f"export is not available ({exc})", severity="warning", markup=False)
            return
        self.app.push_screen(ExportScreen(self.run))

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def action_jump(self, panel_id: str) -> None:
        self.query_one("#body", VerticalScroll).scroll_to_widget(self.query_one(f"#{panel_id}"), top=True)

    # -- for tests ----------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        """The log is read to its end and the newest snapshot is on screen."""
        return self.watcher.caught_up.is_set() and self.rendered_version == self.monitor.version
