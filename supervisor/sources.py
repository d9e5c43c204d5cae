"""Option values from a TOML file and from environment variables.

Precedence, highest first: command-line flags, environment variables, the
configuration file, built-in defaults. Every option ``--some-name`` can be
set as ``some-name = ...`` in the file and as ``MULTUS_CONFIG_SOME_NAME`` in
the environment. File values may be TOML booleans, numbers or strings;
environment values are strings parsed as the flag's value would be.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from supervisor.errors import UsageError

#: Default configuration file; a missing default file is not an error.
DEFAULT_CONFIG_FILE = "/etc/multus-config/config.toml"
ENV_PREFIX = "MULTUS_CONFIG_"
#: Variables with the prefix that are not options: hook tracing, and the extra
#: flags the systemd unit passes on the command line.
NOT_OPTIONS = {"MULTUS_CONFIG_TRACE_HOOKS", "MULTUS_CONFIG_ARGS"}


def config_file_path(args: Sequence[str], environ: Mapping[str, str]) -> tuple[Path, bool]:
    """Return the configuration file and whether it was given explicitly."""
    early = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    early.add_argument("--config-file", default=None)
    known, _ = early.parse_known_args(args)
    if known.config_file == "":
        raise UsageError("--config-file must not be empty (give the path of a TOML file)")
    if known.config_file is not None:
        return Path(known.config_file), True
    if f"{ENV_PREFIX}CONFIG_FILE" in environ:
        return Path(environ[f"{ENV_PREFIX}CONFIG_FILE"]), True
    return Path(DEFAULT_CONFIG_FILE), False


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Return the parser's options by name without dashes (``cni-conf-dir``)."""
    options = {}
    for action in parser._actions:  # noqa: SLF001 - argparse has no public list of actions
        if action.nargs == 0:
            # Switches of one command, such as render's --show-secrets, are
            # flags only: a file or variable must never turn them on.
            continue
        for flag in action.option_strings:
            if flag.startswith("--"):
                options[flag[2:]] = action
    return options


def _is_bool_option(action: argparse.Action) -> bool:
    return action.nargs == "?" and action.const is True


def _is_seconds_option(action: argparse.Action) -> bool:
    return action.metavar == "SECONDS"


def _expected(action: argparse.Action) -> str:
    if _is_bool_option(action):
        return "a boolean (true or false)"
    if _is_seconds_option(action):
        return "a number of seconds"
    return "a string"


def _convert(action: argparse.Action, value: Any, source: str, typed: bool) -> Any:
    """Return *value* for *action*; *typed* values come from TOML and must have the option's type."""
    if typed:
        matches = (
            isinstance(value, bool)
            if _is_bool_option(action)
            else isinstance(value, (int, float)) and not isinstance(value, bool)
            if _is_seconds_option(action)
            else isinstance(value, str)
        )
        if not matches:
            msg = f"{source}: expected {_expected(action)}, got {value!r}"
            raise UsageError(msg)
        if isinstance(value, bool):
            return value
        value = str(value)
    if action.type is None:
        return value
    try:
        return action.type(value)  # type: ignore[operator]
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"{source}: {error}") from None


def apply_defaults(parser: argparse.ArgumentParser, args: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """Set the parser's defaults from the configuration file, then the environment.

    :return: the ``MULTUS_CONFIG_*`` variables that name no option, for a warning.
    :raises UsageError: for an unreadable or invalid file, an unknown key in
        it, or an invalid value; the message names where it came from.
    """
    options = _options(parser)
    values: dict[str, Any] = {}
    ignored: list[str] = []
    path, explicit = config_file_path(args, environ)
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        if explicit:
            raise UsageError(f"configuration file not found: {path}") from None
        document = {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read configuration file {path}: {error}") from None
    for key, value in document.items():
        if key not in options:
            known = ", ".join(sorted(options))
            raise UsageError(f"{path}: unknown key {key!r} (known keys: {known})")
        values[options[key].dest] = _convert(options[key], value, f"{path}: {key}", typed=True)
    by_variable = {ENV_PREFIX + name.upper().replace("-", "_"): name for name in options}
    for variable, value in environ.items():
        if not variable.startswith(ENV_PREFIX) or variable in NOT_OPTIONS:
            continue
        if variable not in by_variable:
            # Plugins and images may use the prefix for their own variables.
            ignored.append(variable)
            continue
        name = by_variable[variable]
        values[options[name].dest] = _convert(options[name], value, f"environment variable {variable}", typed=False)
    parser.set_defaults(**values)
    return ignored
