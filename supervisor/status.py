"""``multus-config status``: what the supervisor is doing, or what disk holds.

With a supervisor running, the report comes from its state file. Without
one, the inputs are rendered and compared with disk, and nothing is written.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from supervisor import install
from supervisor.hooks import Hooks, RenderFailed
from supervisor.lock import InstanceLock
from supervisor.options import Settings
from supervisor.statefile import read_state


def offline_report(hooks: Hooks, settings: Settings) -> dict[str, Any]:
    """Return a report built from the files directly, for when no supervisor runs."""
    report: dict[str, Any] = {"pid": None, "state": "not running", "state_since": None}
    try:
        rendered = hooks.render(settings)
    except RenderFailed as failure:
        report.update(last_error=str(failure), last_error_kind=failure.errors[0].kind, files=[])
        report.update(hooks.describe(settings))
        return report
    comparer = install.DiskComparer(lambda desired, current: hooks.compare(settings, desired, current))
    files = []
    for desired in rendered:
        state = comparer.state(desired)
        files.append(
            {
                "path": str(desired.path),
                "label": desired.label,
                "sha256": desired.sha256,
                "on_disk": "current" if not state.needs_action else (state.reason or "stale files present"),
            }
        )
    report.update(last_error=None, last_error_kind=None, files=files)
    report.update(hooks.describe(settings))
    return report


def format_report(report: dict[str, Any], now: float) -> str:
    """Return the report as aligned ``key: value`` lines for a terminal."""
    lines = [f"state: {report['state']}"]
    if report.get("pid"):
        lines.append(f"pid: {report['pid']}")
    since = report.get("state_since")
    if isinstance(since, (int, float)):
        lines.append(f"time in state: {max(0.0, now - since):.0f} s")
    for key in ("primary_config", "primary_config_reason", "multus_config_source", "token_expiry"):
        if key in report:
            lines.append(f"{key.replace('_', ' ')}: {report[key] if report[key] is not None else 'unknown'}")
    lines.append(f"last error: {report.get('last_error') or 'none'}")
    for item in report.get("files", []):
        extra = f" ({item['on_disk']})" if "on_disk" in item else ""
        lines.append(f"file: {item['path']} sha256 {item['sha256'][:12]}{extra}")
    return "\n".join(lines) + "\n"


def status_command(hooks: Hooks, settings: Settings, as_json: bool, out: TextIO = sys.stdout) -> int:
    """Print the status report; return 1 when there is an error or, with no supervisor running, disk is not current."""
    running = InstanceLock(Path(settings.lock_file)).held_by_another()
    report = read_state(Path(settings.state_file), running) if settings.state_file else None
    if report is None:
        report = offline_report(hooks, settings)
    if as_json:
        out.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
    else:
        out.write(format_report(report, time.time()))
    if report.get("last_error"):
        return 1
    if report["state"] == "not running":
        return 0 if all(item.get("on_disk") == "current" for item in report["files"]) else 1
    return 0
