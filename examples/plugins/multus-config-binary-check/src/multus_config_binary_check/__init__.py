"""multus-config plugin that rejects a render whose CNI plugin binaries are missing.

The container runtime runs every ``type`` named in the Multus config as a
binary from the CNI bin directories. This plugin collects those types from
the rendered document: each delegate's ``type`` and ``ipam.type``, the same
for each plugin of a delegate that is a config list, and the plugins chained
after multus in ``00-multus.conflist``. The multus binary itself is left to
the built-in binary copy. When one of them is not an executable file in
``--cni-bin-dir``, ``--additional-bin-dir`` (when set) or a directory of
``--binary-check-extra-dirs``, the render is rejected with
:class:`supervisor.WaitForInput`, so the files installed last stay in place.
The directories are watched, so installing the binary triggers a new render.

Each directory is checked at its given path in the filesystem that
multus-config runs in. In a container, mount each one at that path.

NOTE: Binaries that a plugin runs on its own are not derived from the
config, such as the bridge and host-local plugins that flannel runs for its
"delegate" by default.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor import (
    DesiredFile,
    OptionRegistry,
    Settings,
    UsageError,
    WaitForInput,
    hookimpl,
)

SECTION = "binary check (multus-config-binary-check)"
OPTION = "--binary-check-extra-dirs"
#: Shown for plugins chained after multus in the config list itself.
CHAINED_AFTER_MULTUS = "chained after multus"


def parse_extra_dirs(text: str) -> list[Path]:
    """Parse ``--binary-check-extra-dirs``: absolute directories separated by commas.

    :raises UsageError: naming the option, the rejected entry and the format.
    """
    if not text.strip():
        return []
    directories = []
    for raw in text.split(","):
        item = raw.strip()
        expected = "expected absolute directories separated by commas, such as /opt/cni/bin,/usr/lib/cni"
        if not item:
            raise UsageError(f"{OPTION}: invalid value {text!r}: empty entry between commas ({expected})")
        if not os.path.isabs(item):
            raise UsageError(f"{OPTION}: invalid value {item!r}: not an absolute path ({expected})")
        directories.append(Path(os.path.normpath(item)))
    return directories


def search_directories(settings: Settings) -> list[Path]:
    """Return the directories searched for binaries, in order, without repeats."""
    found: list[Path] = [Path(settings.cni_bin_dir)]
    additional = getattr(settings, "additional_bin_dir", "")
    if additional:
        found.append(Path(os.path.abspath(additional)))
    found.extend(parse_extra_dirs(settings.binary_check_extra_dirs))
    return list(dict.fromkeys(found))


@dataclass
class Requirement:
    """One binary the config needs."""

    #: File name of the binary, the plugin's ``type``.
    name: str
    #: Where the config names it, such as "needed by delegate 'net-a'".
    sources: list[str] = field(default_factory=list)


def _multus_parts(document: Any) -> tuple[list[Any], list[Any]] | None:
    """Return the delegates and the plugins chained after multus, or ``None`` for another document."""
    if not isinstance(document, dict):
        return None
    plugins = document.get("plugins")
    if isinstance(plugins, list) and plugins and isinstance(plugins[0], dict):
        delegates = plugins[0].get("delegates")
        if isinstance(delegates, list):
            return delegates, plugins[1:]
    delegates = document.get("delegates")
    if isinstance(delegates, list):
        return delegates, []
    return None


def _plugin_types(plugin: Any) -> list[Any]:
    """Return the ``type`` and ``ipam.type`` values of one plugin config."""
    if not isinstance(plugin, dict):
        return []
    types = [plugin["type"]] if "type" in plugin else []
    ipam = plugin.get("ipam")
    if isinstance(ipam, dict) and "type" in ipam:
        types.append(ipam["type"])
    return types


def collect_requirements(document: Any) -> list[Requirement]:
    """Return the binaries a Multus config document needs, in order of appearance.

    :raises WaitForInput: when a type cannot be a binary name, such as one
        that contains "/", because the runtime would reject it too.
    """
    parts = _multus_parts(document)
    if parts is None:
        return []
    delegates, chained = parts
    named: list[tuple[str, Any]] = []
    for index, delegate in enumerate(delegates):
        name = delegate.get("name") if isinstance(delegate, dict) else None
        source = f"needed by delegate {name!r}" if isinstance(name, str) and name else f"needed by delegates[{index}]"
        plugins = delegate.get("plugins") if isinstance(delegate, dict) else None
        for plugin in plugins if isinstance(plugins, list) else [delegate]:
            named.extend((source, value) for value in _plugin_types(plugin))
    for plugin in chained:
        named.extend((CHAINED_AFTER_MULTUS, value) for value in _plugin_types(plugin))

    requirements: dict[str, Requirement] = {}
    for source, value in named:
        if not isinstance(value, str) or value in ("", ".", "..") or "/" in value or "\x00" in value:
            msg = f"invalid CNI plugin type {value!r} ({source}): a type must be the file name of a binary in the CNI bin directories"
            raise WaitForInput(msg, kind="invalid-plugin-type")
        requirement = requirements.setdefault(value, Requirement(value))
        if source not in requirement.sources:
            requirement.sources.append(source)
    return list(requirements.values())


def find_binary(name: str, directories: list[Path]) -> tuple[Path | None, list[Path]]:
    """Return the first executable file *name* in *directories*, and the non-executable ones seen before it."""
    not_executable = []
    for directory in directories:
        candidate = directory / name
        try:
            info = os.stat(candidate)
        except OSError:
            # Missing, a dangling symlink, or a directory this process cannot search.
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        if os.access(candidate, os.X_OK):
            return candidate, not_executable
        not_executable.append(candidate)
    return None, not_executable


def missing_message(missing: list[tuple[Requirement, list[Path]]], directories: list[Path]) -> str:
    """Return one line that names every missing binary, who needs it and where it was looked for."""
    items = []
    for requirement, not_executable in missing:
        details = ", ".join(requirement.sources)
        if not_executable:
            details += "; " + ", ".join(f"{path} is not executable" for path in not_executable)
        items.append(f"{requirement.name!r} ({details})")
    searched = ", ".join(str(directory) for directory in directories)
    if len(items) == 1:
        return f"CNI plugin binary {items[0]} not found in {searched}; install it there or add its directory to {OPTION}"
    return f"CNI plugin binaries {', '.join(items)} not found in {searched}; install them there or add their directories to {OPTION}"


class BinaryCheckPlugin:
    """Validation plugin that rejects a render whose CNI plugin binaries are missing."""

    def __init__(self) -> None:
        #: Names missing at the last check, or ``None`` before any check.
        self.missing: list[str] | None = None

    @hookimpl
    def multus_config_add_options(self, options: OptionRegistry) -> None:
        options.add_string(
            OPTION,
            default="",
            help=(
                "comma-separated absolute directories searched for CNI plugin binaries "
                "in addition to --cni-bin-dir and --additional-bin-dir"
            ),
            section=SECTION,
        )

    @hookimpl
    def multus_config_validate_settings(self, settings: Settings) -> None:
        parse_extra_dirs(settings.binary_check_extra_dirs)

    @hookimpl
    def multus_config_watch_paths(self, settings: Settings) -> list[Path]:
        return search_directories(settings)

    # Runs after the other modifiers, so that plugins they chain are checked too.
    @hookimpl(trylast=True)
    def multus_config_modify_document(self, settings: Settings, desired: DesiredFile, document: Any) -> None:
        requirements = collect_requirements(document)
        if not requirements:
            return
        directories = search_directories(settings)
        missing = []
        for requirement in requirements:
            found, not_executable = find_binary(requirement.name, directories)
            if found is None:
                missing.append((requirement, not_executable))
        self.missing = [requirement.name for requirement, _ in missing]
        if missing:
            message = missing_message(missing, directories)
            raise WaitForInput(message, path=directories[0], kind="missing-binary")

    @hookimpl
    def multus_config_describe(self, settings: Settings) -> dict[str, Any]:
        return {
            "binary_check_directories": [str(directory) for directory in search_directories(settings)],
            "binary_check_missing": self.missing,
        }


plugin = BinaryCheckPlugin()
