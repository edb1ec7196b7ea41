"""Notification settings: which events notify, where, in what format -- the rules, without the sender.

The user settings' ``[notify]`` table and a run's ``notify_*`` fields resolve to ``Settings`` here;
core.settings.config validates a run's ``notify_*`` fields with the same checks (core.reading.notify sends)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any, Iterable


EVENTS = ("completed", "stopped", "failed", "crashed", "stalled", "alert")
SEVERITIES = ("warning", "critical")
FORMATS = ("auto", "slack", "discord", "ntfy", "json")
OFF = "off"


class SettingsError(ValueError):
    pass


@dataclass
class Settings:
    webhook: str = ""
    command: str = ""
    format: str = "auto"
    on: tuple[str, ...] = EVENTS
    alert_severity: str = "critical"  # alerts at this severity or above; "off": none
    timeout_s: float = 10.0
    include_text: bool = False
    max_age_s: float = 3600.0

    @property
    def active(self) -> bool:
        return bool(self.webhook or self.command) and bool(self.on)

    def wants(self, event: str, severity: str = "") -> bool:
        if event not in self.on:
            return False
        if event == "alert":
            if self.alert_severity == OFF or severity not in SEVERITIES:
                return False
            return SEVERITIES.index(severity) >= SEVERITIES.index(self.alert_severity)
        return True

    @classmethod
    def resolve(cls, run_config: dict[str, Any] | None = None) -> "Settings":
        """User settings' [notify], then the run's notify_* fields; bad values raise SettingsError."""
        from .user_settings import load_settings

        table = dict(load_settings().get("notify") or {})
        cfg = run_config or {}
        for key, field_name in (("webhook", "notify_webhook"), ("command", "notify_command"),
                                ("on", "notify_on"), ("alert_severity", "notify_alerts")):
            v = cfg.get(field_name)
            if v not in (None, "", []):
                table[key] = v
        return cls.from_table(table)

    @classmethod
    def from_table(cls, t: dict[str, Any]) -> "Settings":
        s = cls()
        unknown = set(t) - {"webhook", "command", "format", "on", "alert_severity", "timeout_s", "include_text",
                            "max_age_s"}
        if unknown:
            raise SettingsError(f"[notify]: unknown key(s) {', '.join(sorted(unknown))}")
        s.webhook = str(t.get("webhook", "") or "").strip()
        s.command = str(t.get("command", "") or "").strip()
        if s.webhook == OFF:
            s.webhook = ""
        if s.command == OFF:
            s.command = ""
        check_webhook(s.webhook)
        s.format = str(t.get("format", "auto"))
        if s.format not in FORMATS:
            raise SettingsError(f"[notify] format: {s.format!r} is not one of {', '.join(FORMATS)}")
        on = t.get("on", list(EVENTS))
        if isinstance(on, str):
            on = [p.strip() for p in on.split(",") if p.strip()]
        s.on = tuple(check_events(on))
        s.alert_severity = str(t.get("alert_severity", "critical"))
        if s.alert_severity not in SEVERITIES + (OFF,):
            raise SettingsError(f"[notify] alert_severity: {s.alert_severity!r} is not warning, critical or off")
        try:
            s.timeout_s = float(t.get("timeout_s", 10.0))
            s.max_age_s = float(t.get("max_age_s", 3600.0))
        except (TypeError, ValueError):
            raise SettingsError("[notify] timeout_s and max_age_s are seconds (numbers)") from None
        if not 0 < s.timeout_s <= 120:
            raise SettingsError("[notify] timeout_s: give 1 to 120 seconds")
        s.include_text = bool(t.get("include_text", False))
        return s


def check_webhook(url: str) -> None:
    if url and urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise SettingsError(f"notify webhook {url[:60]!r} is not an http(s) URL")


def check_events(on: Iterable[str]) -> list[str]:
    out = [str(e).strip() for e in on]
    bad = [e for e in out if e not in EVENTS and e != OFF]
    if bad:
        raise SettingsError(f"notify_on: {', '.join(bad)} not known; use some of {', '.join(EVENTS)} (or off)")
    return [e for e in out if e != OFF]
