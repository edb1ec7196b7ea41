"""The app shell: screens, global keys, theme, quitting without stopping a run.

Import-light on purpose: the first frame must come in about a second over SSH,
so nothing here (or in the start screen) imports the training stack, and slow
work (NVML, scanning run directories, launching) runs in workers that only post
typed messages back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from rich.text import Text
from textual.app import App
from textual.binding import Binding

from . import settings as settings_mod

if TYPE_CHECKING:  # pragma: no cover
    from ..core.planning.hardware import Hardware
    from ..core.planning.presets import Preset
    from ..core.run.rundir import RunDir


NOTIFIER_DELAY_S = 1.0  # the notifier polls every 10 s: a second's wait costs nothing
TRACK_FOLD_DELAY_S = 1.0  # the quit check's fold of the run's log waits for the dashboard's first frame


class GrpoApp(App[int]):
    """``grpo-tui``: start screen -> dashboard (-> sample browser, viewer, export)."""

    TITLE = "grpo-tui"
    ENABLE_COMMAND_PALETTE = False  # every action has a key; keeps ctrl+p free and the footer honest

    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Keys", key_display="?"),
        Binding("t", "toggle_theme", "Light/dark", show=False),
    ]

    def __init__(
        self,
        *,
        preset: str | None = None,
        attach: "RunDir | None" = None,
        detect_hardware: "Callable[[], Hardware] | None" = None,
        load_presets: "Callable[[], dict[str, Preset]] | None" = None,
    ) -> None:
        super().__init__()
        self.preset = preset
        self.attach_to = attach
        self.current_run: RunDir | None = None
        self._tracker = None  # runs_index.RunTracker of current_run: "is it live?" without re-reading its log
        self.settings = settings_mod.AppSettings.load()
        # Injectable so tests and screenshots can present fixed hardware and presets.
        self.detect_hardware = detect_hardware or _detect_hardware
        self.load_presets = load_presets or _load_presets

    # -- start-up ---------------------------------------------------------------------
    def get_default_screen(self):
        """The start screen is the bottom of the stack (no blank default screen to mount first)."""
        from .screens.start import StartScreen

        return StartScreen(preset=self.preset)

    def on_mount(self) -> None:
        self._apply_theme(self.settings.theme)
        if self.attach_to is not None:
            self.open_run(self.attach_to)
        # Off the UI thread and after the first frames: core.reading.notify pulls in urllib/http/email and reads
        # settings.toml, which the first paint must not wait for.
        self.set_timer(NOTIFIER_DELAY_S, lambda: self.run_worker(self._start_notifier, thread=True, group="notify"))

    _notifier = None

    def _start_notifier(self) -> None:
        """While the app is open it sends the notifications of settings.toml's [notify] for every run
        (core.reading.notify; a marker file per event keeps the launcher's watcher from sending them again)."""
        from ..core.reading import notify

        if notify.configured():
            self._notifier = notify.Watcher(interval=10.0).start()

    def on_unmount(self) -> None:
        if self._notifier is not None:
            self._notifier.stop(timeout=0.5)  # a send in flight finishes in its own daemon thread

    def notify(self, message: str, *, title: str = "", severity: str = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications are literal unless asked: they carry file names, model ids, user input."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # -- runs -------------------------------------------------------------------------
    def open_run(self, run: "RunDir") -> None:
        """Show a run's dashboard (its own screen; Esc there comes back here)."""
        try:
            from .screens.dashboard import DashboardScreen
        except ImportError as exc:
            self.notify(f"the dashboard is not available in this build ({exc})", title=f"run {run.id}",
                        severity="warning")
            self.track_run(run)
            return
        self.track_run(run)
        self.push_screen(DashboardScreen(run))

    def track_run(self, run: "RunDir") -> None:
        """Remember the run on screen (quitting asks about it if it is live)."""
        from .runs_index import RunTracker

        self.current_run = run
        self._tracker = RunTracker(run)
        # Fold the log off the UI thread, so that `q` later reads only what was appended; a second
        # from now: the dashboard's first frame (and its own reader) come first.
        tracker = self._tracker
        self.set_timer(TRACK_FOLD_DELAY_S, lambda: self.run_worker(tracker.summary, thread=True, group="current-run",
                                                                   exclusive=True))

    def current_summary(self):
        if self._tracker is None:
            return None
        try:
            return self._tracker.summary()
        except OSError:
            return None

    def run_is_live(self) -> bool:
        s = self.current_summary()
        return bool(s and s.live)

    # -- quitting ---------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quit; when a live run is on screen, confirm that it goes on without us."""
        if self.current_run is not None and self.run_is_live():
            from .screens.confirm import QuitScreen

            def done(confirmed: bool | None) -> None:
                if confirmed:
                    self.exit(0, message=self.detach_message())

            if not isinstance(self.screen, QuitScreen):
                self.push_screen(QuitScreen(self.current_run.id), done)
            return
        self.exit(0, message=self.detach_message())

    def detach_message(self) -> Text | None:
        run = self.current_run
        if run is None:
            return None
        # The command gets a line of its own (no_wrap): it must survive copy and paste intact.
        if self.run_is_live():
            head = f"run {run.id} keeps training in the background; nothing was stopped."
        else:
            head = f"run {run.id} ({self.run_state()}); all runs: grpo-tui runs"
        return Text.assemble(head, "\nCome back with: ", (f"grpo-tui attach {run.id}", "bold"), no_wrap=True)

    def run_state(self) -> str:
        s = self.current_summary()
        return s.state if s else "unreadable"

    # -- help -------------------------------------------------------------------------
    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(self.screen))

    # -- theme ------------------------------------------------------------------------
    @property
    def sixteen_colours(self) -> bool:
        """The terminal has only the 16 ANSI colours (Rich's detection: COLORTERM, TERM).

        Headless runs (tests, screenshots) have no terminal to ask: they count as full colour,
        so a CI box's TERM does not change what the snapshots show.
        """
        if self.is_headless:
            return False
        return self.console.color_system in ("standard", "windows")

    def _apply_theme(self, choice: str) -> None:
        name = settings_mod.resolve_theme(choice, sixteen_colours=self.sixteen_colours)
        if name not in self.available_themes:
            self.notify(f"unknown theme {choice!r}; using the default", severity="warning")
            name = settings_mod.resolve_theme("auto", sixteen_colours=self.sixteen_colours)
        self.theme = name

    def action_toggle_theme(self) -> None:
        self.theme = settings_mod.toggled(self.theme)
        self.settings.theme = self.theme
        try:
            self.settings.save()
        except OSError as exc:
            self.notify(f"theme not saved: {exc}", severity="warning")


def _detect_hardware() -> "Hardware":
    from ..core.planning.hardware import detect

    return detect(processes=False)


def _load_presets() -> "dict[str, Preset]":
    from ..core.planning.presets import discover

    return discover()
