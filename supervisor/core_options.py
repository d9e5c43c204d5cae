"""Options of the supervisor itself, independent of what is rendered."""

from __future__ import annotations

from supervisor.markers import hookimpl
from supervisor.options import OptionRegistry

SECTION = "supervisor"


@hookimpl
def multus_config_add_options(options: OptionRegistry) -> None:
    options.add_bool(
        "--cleanup-config-on-exit",
        default=False,
        help="remove every file the supervisor owns when it stops on SIGTERM or SIGINT",
        section=SECTION,
    )
    options.add_bool(
        "--skip-config-watch",
        default=False,
        help="do not watch inputs and outputs; render once, then only on SIGHUP",
        section=SECTION,
    )
    options.add_seconds(
        "--resync-interval",
        default=300,
        # epoll waits at most about 24.8 days; a day is plenty for a safety net.
        maximum=86400,
        help=(
            "seconds between full re-renders that catch changes inotify missed; "
            "0 disables them"
        ),
        section=SECTION,
    )
    options.add_seconds(
        "--debounce",
        default=0.005,
        maximum=10,
        help=(
            "seconds without further events before a burst of changes is "
            "rendered; a burst is rendered at the latest 20 debounce windows, "
            "at least 0.125 s, after its first event"
        ),
        section=SECTION,
    )
    options.add_string(
        "--config-file",
        default="/etc/multus-config/config.toml",
        help=(
            "TOML file with option values (keys are option names without the leading --); "
            "flags and MULTUS_CONFIG_* variables take precedence; a missing default file is ignored"
        ),
        section=SECTION,
    )
    options.add_string(
        "--lock-file",
        default="/run/multus-config/multus-config.lock",
        help="file locked while the supervisor runs, so a second instance exits",
        section=SECTION,
    )
    options.add_string(
        "--state-file",
        default="/run/multus-config/status.json",
        help="JSON report of the running supervisor, read by 'multus-config status'; empty disables it",
        section=SECTION,
    )
    options.add_string(
        "--block-plugins",
        default="",
        help=(
            "comma-separated names of plugins not to load, in addition to those in "
            "MULTUS_CONFIG_BLOCK_PLUGINS"
        ),
        section=SECTION,
    )
    options.add_choice(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="level of the supervisor's own log",
        section=SECTION,
    )
