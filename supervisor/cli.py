"""Command-line entry point: ``multus-config [run] [OPTIONS]``, ``diagram`` and ``demo``.

Without a command name the options are those of ``run``, so a DaemonSet that
ran Multus-CNI's ``thin_entrypoint`` only swaps the command.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from supervisor import core_options, logs, statelog
from supervisor.errors import UsageError
from supervisor.hooks import Hooks, create_plugin_manager
from supervisor.notify import SystemdNotifier
from supervisor.options import build_parser

PROG = "multus-config"
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


def run(args: Sequence[str]) -> int:
    """Parse the supervisor's options, validate them and run until stopped."""
    notifier = SystemdNotifier()
    manager = create_plugin_manager(
        internal=[
            ("core-options", core_options),
            ("state-log", statelog.StateLog()),
            ("systemd-notify", notifier),
        ]
    )
    hooks = Hooks(manager)
    parser = build_parser(PROG, hooks.add_options)
    settings = parser.parse_args(args)
    try:
        hooks.validate_settings(settings)
    except UsageError as error:
        parser.error(str(error))
    logs.configure(settings.log_level)

    from supervisor.loop import Supervisor

    return Supervisor(hooks, settings, notifier).run()
