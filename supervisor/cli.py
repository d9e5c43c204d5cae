"""Command-line entry point: ``multus-config [run|render|status] [OPTIONS]``, ``diagram``, ``demo``.

Without a command name the options are those of ``run``, so a DaemonSet that
ran Multus-CNI's ``thin_entrypoint`` only swaps the command.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from supervisor import core_options, install, logs, sources, statelog
from supervisor.errors import UsageError
from supervisor.hooks import Hooks, create_plugin_manager
from supervisor.lock import InstanceLock, LockHeld
from supervisor.notify import SystemdNotifier
from supervisor.statefile import StateFile
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
        if args:
            print(f"{PROG} diagram: error: unexpected arguments {' '.join(args)!r} (it takes none)", file=sys.stderr)
            return USAGE_ERROR
        from supervisor.diagram import mermaid

        print(mermaid())
        return 0
    if command == "demo":
        from supervisor.demo import run_demo

        return run_demo(args)
    if command in COMMANDS:
        return COMMANDS[command](args)
    print(f"{PROG}: error: unknown command {command!r} (expected run, render, status, cleanup, diagram or demo)", file=sys.stderr)
    return USAGE_ERROR


def _blocked_plugins(args: Sequence[str]) -> list[str]:
    """Return the ``--block-plugins`` names, needed before plugins are loaded."""
    early = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    early.add_argument("--block-plugins", default="")
    known, _ = early.parse_known_args(args)
    return [name.strip() for name in known.block_plugins.split(",") if name.strip()]


def _load(
    prog: str, args: Sequence[str], internal: list[tuple[str, object]], extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> tuple[Hooks, argparse.Namespace] | int:
    """Load plugins, parse and validate *args*; return an exit status on a usage error."""
    internal = [("core-options", core_options), *internal]
    blocked = _blocked_plugins(args)
    from_environment = os.environ.get("MULTUS_CONFIG_BLOCK_PLUGINS", "").split(",")
    for name in [*blocked, *(item.strip() for item in from_environment)]:
        if name in dict(internal):
            print(f"{prog}: error: --block-plugins: {name!r} is part of the supervisor and cannot be blocked", file=sys.stderr)
            return USAGE_ERROR
    hooks = Hooks(create_plugin_manager(blocked=blocked, internal=internal))
    parser = build_parser(prog, hooks.add_options)
    if extra is not None:
        extra(parser)
    try:
        ignored = sources.apply_defaults(parser, args, os.environ)
    except UsageError as error:
        parser.error(str(error))
    settings = parser.parse_args(args)
    settings.ignored_variables = ignored
    try:
        hooks.validate_settings(settings)
    except UsageError as error:
        parser.error(str(error))
    return hooks, settings


def run(args: Sequence[str]) -> int:
    """Parse the supervisor's options, validate them and run until stopped."""
    from supervisor.loop import catch_signals_early

    catch_signals_early()
    notifier = SystemdNotifier()
    loaded = _load(PROG, args, [("state-log", statelog.StateLog()), ("systemd-notify", notifier)])
    if isinstance(loaded, int):
        return loaded
    hooks, settings = loaded
    logs.configure(settings.log_level)
    for variable in settings.ignored_variables:
        log.warning("Ignoring environment variable %s: no option is named like it", variable)
    # A main loop that hangs is killed by systemd's watchdog with SIGABRT;
    # faulthandler then writes the stack of every thread to stderr.
    faulthandler.enable()

    lock = InstanceLock(Path(settings.lock_file))
    try:
        lock.acquire()
    except (LockHeld, OSError) as error:
        log.error("Cannot start: %s", error)
        return LOCK_ERROR

    from supervisor.loop import Supervisor

    supervisor = Supervisor(hooks, settings, notifier)
    state_file = None
    if settings.state_file:
        # A killed predecessor may have left a temporary state file behind.
        install.remove_stale_temporaries([Path(settings.state_file).parent])
        state_file = StateFile(Path(settings.state_file), hooks, settings)
        state_file.lifecycle = supervisor.lifecycle
        hooks.register(state_file, "state-file")
    try:
        return supervisor.run()
    finally:
        if state_file is not None:
            state_file.remove()
        lock.release()


def _load_with_switch(
    command: str, args: Sequence[str], switch: str, help: str, log_level: str
) -> tuple[Hooks, argparse.Namespace] | int:
    """Load like ``run`` with one extra on/off flag of the command, and a quieter log."""

    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(switch, action="store_true", help=help)

    loaded = _load(f"{PROG} {command}", args, [], add)
    if not isinstance(loaded, int):
        logs.configure(log_level)
    return loaded


def render(args: Sequence[str]) -> int:
    """``multus-config render``: print what would change on disk; write nothing."""
    loaded = _load_with_switch(
        "render", args, "--show-secrets", "also print files that hold a secret, such as the kubeconfig", "warning"
    )
    if isinstance(loaded, int):
        return loaded
    hooks, settings = loaded
    from supervisor.dryrun import render_command

    return render_command(hooks, settings, settings.show_secrets)


def status(args: Sequence[str]) -> int:
    """``multus-config status``: report the running supervisor's state, or disk's."""
    loaded = _load_with_switch("status", args, "--json", "print the report as JSON", "error")
    if isinstance(loaded, int):
        return loaded
    hooks, settings = loaded
    from supervisor.status import status_command

    return status_command(hooks, settings, settings.json)


def cleanup(args: Sequence[str]) -> int:
    """``multus-config cleanup``: remove the owned files once, as a stopping supervisor with cleanup does.

    Takes the instance lock first, so it never runs beside a supervisor that
    would write the files again. Exits 1 when the lock is held.
    """
    loaded = _load(f"{PROG} cleanup", args, [])
    if isinstance(loaded, int):
        return loaded
    hooks, settings = loaded
    logs.configure(settings.log_level)
    lock = InstanceLock(Path(settings.lock_file))
    try:
        lock.acquire()
    except (LockHeld, OSError) as error:
        log.error("Cannot clean up: %s", error)
        return LOCK_ERROR
    try:
        from supervisor.machine import Lifecycle

        settings.cleanup_config_on_exit = True
        lifecycle = Lifecycle(hooks, settings)
        lifecycle.drain()
        lifecycle.cleanup()
    finally:
        lock.release()
    return 0


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {"run": run, "render": render, "status": status, "cleanup": cleanup}
