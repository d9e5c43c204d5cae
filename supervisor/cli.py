"""Command-line entry point: ``multus-config [run] [OPTIONS]``, ``diagram`` and ``demo``.

Without a command name the options are those of ``run``, so a DaemonSet that
ran Multus-CNI's ``thin_entrypoint`` only swaps the command.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from supervisor import core_options, logs, statelog
from supervisor.errors import UsageError
from supervisor.hooks import Hooks, create_plugin_manager
from supervisor.lock import InstanceLock, LockHeld
from supervisor.notify import SystemdNotifier
from supervisor.options import build_parser

log = logging.getLogger(__name__)

PROG = "multus-config"
#: Exit status when another instance holds the lock.
LOCK_ERROR = 1
#: Exit status for invalid options, as argparse uses.
USAGE_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named by *argv* and return the process exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args and not args[0].startswith("-") else "run"
    if args and command == args[0]:
        args = args[1:]
    if command == "diagram":
        from supervisor.diagram import mermaid

        print(mermaid())
        return 0
    if command == "demo":
        from supervisor.demo import run_demo

        return run_demo(args)
    if command != "run":
        print(f"{PROG}: error: unknown command {command!r} (expected run, diagram or demo)", file=sys.stderr)
        return USAGE_ERROR
    return run(args)


def _blocked_plugins(args: Sequence[str]) -> list[str]:
    """Return the ``--block-plugins`` names, needed before plugins are loaded."""
    early = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    early.add_argument("--block-plugins", default="")
    known, _ = early.parse_known_args(args)
    return [name.strip() for name in known.block_plugins.split(",") if name.strip()]


def run(args: Sequence[str]) -> int:
    """Parse the supervisor's options, validate them and run until stopped."""
    notifier = SystemdNotifier()
    internal = [
        ("core-options", core_options),
        ("state-log", statelog.StateLog()),
        ("systemd-notify", notifier),
    ]
    blocked = _blocked_plugins(args)
    for name in blocked:
        if name in dict(internal):
            print(f"{PROG}: error: --block-plugins: {name!r} is part of the supervisor and cannot be blocked", file=sys.stderr)
            return USAGE_ERROR
    hooks = Hooks(create_plugin_manager(blocked=blocked, internal=internal))
    parser = build_parser(PROG, hooks.add_options)
    settings = parser.parse_args(args)
    try:
        hooks.validate_settings(settings)
    except UsageError as error:
        parser.error(str(error))
    logs.configure(settings.log_level)

    lock = InstanceLock(Path(settings.lock_file))
    try:
        lock.acquire()
    except (LockHeld, OSError) as error:
        log.error("Cannot start: %s", error)
        return LOCK_ERROR

    from supervisor.loop import Supervisor

    try:
        return Supervisor(hooks, settings, notifier).run()
    finally:
        lock.release()
