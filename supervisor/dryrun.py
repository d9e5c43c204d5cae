"""``multus-config render``: show what would be written, and write nothing.

Exit status as ``diff`` has it: 0 when disk is current, 1 when some file
would be written, 2 on an error (an invalid option or an unusable input).
"""

from __future__ import annotations

import difflib
import sys
from typing import TextIO

from supervisor import install
from supervisor.files import DesiredFile
from supervisor.hooks import Hooks, RenderFailed
from supervisor.options import Settings

CURRENT, DIFFERS, ERROR = 0, 1, 2


def _current_text(desired: DesiredFile) -> str | None:
    try:
        return install.read_regular_file(desired.path, install.MAX_COMPARE_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _print_diff(desired: DesiredFile, out: TextIO) -> None:
    try:
        new = desired.encoded().decode("utf-8")
    except UnicodeDecodeError:
        print(f"Binary file {desired.path} would be replaced (sha256 {desired.short_hash})", file=out)
        return
    old = _current_text(desired)
    before = (old or "").splitlines(keepends=True)
    label = str(desired.path) if old is not None else "/dev/null"
    diff = difflib.unified_diff(before, new.splitlines(keepends=True), label, str(desired.path))
    out.writelines(line if line.endswith("\n") else line + "\n" for line in diff)


def render_command(hooks: Hooks, settings: Settings, show_secrets: bool, out: TextIO = sys.stdout) -> int:
    """Render, compare with disk, print a diff per file that would change; return the exit status."""
    try:
        rendered = hooks.render(settings)
    except RenderFailed as failure:
        for error in failure.errors:
            print(f"multus-config render: {error}", file=sys.stderr)
        return ERROR
    comparer = install.DiskComparer(lambda desired, current: hooks.compare(settings, desired, current))
    status = CURRENT
    for desired in rendered:
        state = comparer.state(desired)
        if not state.needs_action:
            print(f"{desired.path}: current (sha256 {desired.short_hash})", file=out)
            continue
        status = DIFFERS
        reason = state.reason or "stale files present"
        print(f"{desired.path}: would write ({reason}; sha256 {state.current_hash or 'none'} -> {desired.short_hash}, mode {desired.mode:04o})", file=out)
        for stale in state.stale:
            print(f"{stale}: would remove (stale)", file=out)
        if state.reason is None:
            continue
        if desired.sensitive and not show_secrets:
            print(f"(content of {desired.label} not shown because it holds a secret; use --show-secrets)", file=out)
        else:
            _print_diff(desired, out)
    return status
