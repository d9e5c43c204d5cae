"""Command-line options, declared by plugins through one registry.

Flags follow the conventions of Go's pflag, which Multus-CNI's entrypoint
uses: ``--flag=value``, ``--flag value``, a bare ``--bool-flag`` and
``--bool-flag=false`` all work.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

#: Parsed option values, one attribute per option (``--cni-conf-dir`` is
#: ``settings.cni_conf_dir``).
Settings = argparse.Namespace

_TRUE_WORDS = ("1", "t", "T", "TRUE", "true", "True")
_FALSE_WORDS = ("0", "f", "F", "FALSE", "false", "False")


def parse_bool(text: str) -> bool:
    """Parse a boolean the way Go's ``strconv.ParseBool`` does."""
    if text in _TRUE_WORDS:
        return True
    if text in _FALSE_WORDS:
        return False
    msg = f"invalid value {text!r} (allowed: true, false, 1, 0, t, f)"
    raise argparse.ArgumentTypeError(msg)


def _choice_parser(choices: Sequence[str], allow_empty: bool) -> Callable[[str], str]:
    def parse(text: str) -> str:
        lowered = text.lower()
        if lowered in choices or (allow_empty and not lowered):
            return lowered
        allowed = ", ".join(choices) + (", or empty" if allow_empty else "")
        msg = f"invalid value {text!r} (allowed, in any case: {allowed})"
        raise argparse.ArgumentTypeError(msg)

    return parse


def _seconds_parser(maximum: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0 <= value <= maximum:
            msg = f"invalid value {text!r} (expected a number of seconds from 0 to {maximum:g})"
            raise argparse.ArgumentTypeError(msg)
        return value

    return parse


class OptionRegistry:
    """Collects the options of the supervisor and every plugin.

    Plugins receive it in ``multus_config_add_options`` and call one ``add_*``
    method per option. Each option gets its own section title in ``--help``.
    """

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self._parser = parser
        self._groups: dict[str, argparse._ArgumentGroup] = {}

    def _group(self, section: str) -> argparse._ArgumentGroup:
        if section not in self._groups:
            self._groups[section] = self._parser.add_argument_group(section)
        return self._groups[section]

    def add_string(
        self, name: str, *, default: str, help: str, section: str = "general"
    ) -> None:
        """Add ``--name=TEXT`` with a string default."""
        self._group(section).add_argument(
            name, default=default, metavar="TEXT", help=f"{help} (default: {default!r})"
        )

    def add_bool(
        self, name: str, *, default: bool, help: str, section: str = "general"
    ) -> None:
        """Add a boolean flag: bare ``--name`` means true, ``--name=false`` false."""
        shown = "true" if default else "false"
        self._group(section).add_argument(
            name,
            nargs="?",
            const=True,
            default=default,
            type=parse_bool,
            metavar="BOOL",
            help=f"{help} (default: {shown})",
        )

    def add_choice(
        self,
        name: str,
        *,
        choices: Sequence[str],
        default: str,
        help: str,
        section: str = "general",
    ) -> None:
        """Add ``--name=WORD`` that accepts one of *choices*, in any case."""
        allow_empty = default == ""
        allowed = ", ".join(choices) + (", or empty" if allow_empty else "")
        self._group(section).add_argument(
            name,
            default=default,
            type=_choice_parser(choices, allow_empty),
            metavar="WORD",
            help=f"{help}; one of {allowed} (default: {default!r})",
        )

    def add_seconds(
        self, name: str, *, default: float, help: str, maximum: float, section: str = "general"
    ) -> None:
        """Add ``--name=SECONDS`` that accepts a number from 0 to *maximum*."""
        self._group(section).add_argument(
            name,
            default=default,
            type=_seconds_parser(maximum),
            metavar="SECONDS",
            help=f"{help} (default: {default:g})",
        )


def build_parser(prog: str, add_plugin_options: Callable[[OptionRegistry], Any]) -> argparse.ArgumentParser:
    """Return the parser of the ``run`` command with every plugin's options."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Render the Multus CNI config and kubeconfig from the node's primary "
            "CNI config, install them only when their bytes change, keep them "
            "current and clean up on exit."
        ),
        epilog=(
            "Other commands, which take the same options: 'multus-config render' "
            "prints what would change on disk and writes nothing; 'multus-config "
            "status' reports the running supervisor's state; 'multus-config "
            "cleanup' removes the owned files once, for an uninstall. 'multus-config "
            "diagram' prints the state machine in Mermaid; 'multus-config demo' "
            "runs the supervisor on a temporary example node."
        ),
        allow_abbrev=False,
    )
    add_plugin_options(OptionRegistry(parser))
    return parser
