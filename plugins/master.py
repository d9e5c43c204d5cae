"""Find, read and check the node's primary ("master") CNI config.

Selection follows the container runtime: files ending in ``.conf`` or
``.conflist`` in the autoconfig directory, sorted by byte order of their
names. Files whose names start with ``00-multus.conf`` are skipped, and so is
any file that cannot be loaded or that is itself a Multus config (whatever
its name), each with a warning. ``--multus-master-cni-file-name`` pins one
file and never falls back to another.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from supervisor import Settings, WaitForInput

from plugins import inputs

log = logging.getLogger(__name__)

WHAT = "primary CNI config"
EXTENSIONS = (".conf", ".conflist")
#: Suffix --rename-conf-file appends to the primary config.
RENAMED_SUFFIX = ".old"
OWN_PREFIX = "00-multus.conf"
MULTUS_TYPES = frozenset({"multus", "multus-shim"})
#: Keys only a Multus config has.
MULTUS_KEYS = ("delegates", "clusterNetwork")


@dataclass(frozen=True)
class Master:
    """A primary CNI config that passed every check."""

    path: Path
    document: dict[str, Any]
    #: cniVersion of the generated config.
    cni_version: str
    #: Capabilities of the primary config, for the multus plugin.
    capabilities: dict[str, bool]
    #: Why this file was chosen, for the status report.
    reason: str = ""


# -- selection -----------------------------------------------------------------------


def candidate_paths(directory: Path, include_renamed: bool) -> list[Path]:
    """Return the candidate files of *directory* in selection order.

    With *include_renamed*, a ``<name>.old`` left by ``--rename-conf-file``
    counts as ``<name>`` unless ``<name>`` itself exists.
    """
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        raise WaitForInput(f"CNI config directory not found: {directory}", path=directory, kind="missing-file") from None
    except OSError as error:
        msg = f"cannot list CNI config directory {directory}: {error.strerror}"
        raise WaitForInput(msg, path=directory, kind="unreadable") from None
    present = set(names)
    by_key: dict[bytes, str] = {}
    for name in names:
        effective = name
        if include_renamed and name.endswith(RENAMED_SUFFIX):
            effective = name[: -len(RENAMED_SUFFIX)]
            if effective in present:
                continue
        if not effective.endswith(EXTENSIONS) or effective.startswith(OWN_PREFIX):
            continue
        # Directories and other special files stay candidates, so that reading
        # them fails with a warning that names them.
        by_key[os.fsencode(effective)] = name
    return [directory / by_key[key] for key in sorted(by_key)]


def select_master(settings: Settings) -> Master:
    """Return the primary CNI config to wrap.

    :raises WaitForInput: when there is none usable yet.
    """
    directory = Path(settings.multus_autoconfig_dir)
    if settings.multus_master_cni_file_name:
        pinned = load_master(pinned_path(settings), settings)
        return replace(pinned, reason="pinned by --multus-master-cni-file-name")

    rejected: list[tuple[Path, str]] = []
    for path in candidate_paths(directory, settings.rename_conf_file):
        try:
            chosen = load_master(path, settings)
        except WaitForInput as error:
            if error.kind in ("version-mismatch", "missing-cni-version"):
                raise
            rejected.append((path, str(error)))
            continue
        # When no candidate is usable, the render error lists them all, so
        # the skipped ones get their own warning only here.
        for skipped, reason in rejected:
            _warn_skipped(skipped, reason)
        why = f"first usable *.conf or *.conflist file in {directory} by name"
        if rejected:
            why += "; skipped " + ", ".join(skipped.name for skipped, _ in rejected)
        return replace(chosen, reason=why)
    if rejected:
        msg = f"no usable {WHAT} in {directory}: " + "; ".join(reason for _, reason in rejected)
        raise WaitForInput(msg, path=directory, kind="no-usable-master")
    msg = f"{WHAT} not found: no *.conf or *.conflist file in {directory}"
    raise WaitForInput(msg, path=directory, kind="master-not-found")


#: Last warning logged per skipped candidate, so each problem is logged once.
_skipped: dict[Path, str] = {}


def _warn_skipped(path: Path, reason: str) -> None:
    if _skipped.get(path) != reason:
        log.warning("Skipping candidate %s: %s", path, reason)
        _skipped[path] = reason


def pinned_path(settings: Settings) -> Path:
    """Return the file named by ``--multus-master-cni-file-name``, resolved once."""
    name = settings.multus_master_cni_file_name
    # An absolute value is used as it is; joining it to the directory would
    # double the directory.
    path = Path(name) if os.path.isabs(name) else Path(settings.multus_autoconfig_dir) / name
    if settings.rename_conf_file and not os.path.lexists(path):
        renamed = path.with_name(path.name + RENAMED_SUFFIX)
        if os.path.lexists(renamed):
            return renamed
    if not os.path.lexists(path):
        msg = f"configured {WHAT} not found: {path} (set by --multus-master-cni-file-name)"
        raise WaitForInput(msg, path=path, kind="master-not-found")
    return path


# -- loading and checks --------------------------------------------------------------------


def load_master(path: Path, settings: Settings) -> Master:
    """Read and check one candidate.

    :raises WaitForInput: naming the file and what is wrong with it.
    """
    document = inputs.parse_json_object(inputs.read_file(path, WHAT), path, WHAT)
    if is_multus_config(document):
        msg = f"{path} is a Multus config, not a primary CNI config; it is never wrapped"
        raise WaitForInput(msg, path=path, kind="self-delegation")
    _check_types(document, path, settings)
    capabilities = collect_capabilities(document, path)
    cni_version = _resolve_cni_version(document, path, settings)
    return Master(path, document, cni_version, capabilities)


def is_multus_config(document: dict[str, Any]) -> bool:
    """Return whether *document* is, or contains at any depth, a Multus config."""
    plugins = document.get("plugins")
    top_level = [document, *(plugins if isinstance(plugins, list) else [])]
    for item in top_level:
        if isinstance(item, dict) and any(key in item for key in MULTUS_KEYS):
            return True
    stack: list[Any] = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            kind = value.get("type")
            if isinstance(kind, str) and kind in MULTUS_TYPES:
                return True
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _invalid(path: Path, field: str, expected: str, value: Any) -> WaitForInput:
    msg = f"{path}: invalid field {field} (expected {expected}, got {inputs.json_type(value)})"
    return WaitForInput(msg, path=path, kind="invalid-field")


def _check_types(document: dict[str, Any], path: Path, settings: Settings) -> None:
    for field in ("cniVersion", "name", "type"):
        if field in document and not isinstance(document[field], str):
            raise _invalid(path, field, "string", document[field])
    if settings.override_network_name and not document.get("name"):
        msg = f"{path} has no \"name\", which --override-network-name needs"
        raise WaitForInput(msg, path=path, kind="invalid-field")
    if "plugins" in document:
        plugins = document["plugins"]
        if not isinstance(plugins, list):
            raise _invalid(path, "plugins", "array", plugins)
        if not plugins:
            msg = f"{path}: invalid field plugins (the list is empty)"
            raise WaitForInput(msg, path=path, kind="invalid-field")
        for index, plugin in enumerate(plugins):
            if not isinstance(plugin, dict):
                raise _invalid(path, f"plugins[{index}]", "object", plugin)
            if not isinstance(plugin.get("type"), str):
                raise _invalid(path, f"plugins[{index}].type", "string", plugin.get("type"))
    elif not isinstance(document.get("type"), str):
        msg = f"{path} has neither \"type\" nor \"plugins\", so it is not a CNI config"
        raise WaitForInput(msg, path=path, kind="invalid-field")


def collect_capabilities(document: dict[str, Any], path: Path) -> dict[str, bool]:
    """Return the union of capabilities: top level of a single config, or every plugin of a list."""
    if "plugins" in document:
        sources = [(f"plugins[{index}].capabilities", plugin.get("capabilities")) for index, plugin in enumerate(document["plugins"])]
    else:
        sources = [("capabilities", document.get("capabilities"))]
    merged: dict[str, bool] = {}
    for field, capabilities in sources:
        if capabilities is None:
            continue
        if not isinstance(capabilities, dict):
            raise _invalid(path, field, "object", capabilities)
        for key, value in capabilities.items():
            if not isinstance(value, bool):
                msg = (
                    f"{path}: invalid capabilities value for {key!r} in {field} "
                    f"(expected boolean, got {inputs.json_type(value)})"
                )
                raise WaitForInput(msg, path=path, kind="invalid-field")
            merged[key] = value
    return merged


def _resolve_cni_version(document: dict[str, Any], path: Path, settings: Settings) -> str:
    wanted = settings.cni_version
    found = document.get("cniVersion")
    if settings.force_cni_version:
        return str(wanted)
    if found is None or found == "":
        if wanted:
            # The delegate gets the version too, because runtimes require it
            # on a config list.
            return str(wanted)
        msg = (
            f"master CNI config has no cniVersion: {path}; add one to the file or "
            "set --cni-version to the version it uses"
        )
        raise WaitForInput(msg, path=path, kind="missing-cni-version")
    if wanted and found != wanted:
        msg = (
            f"CNI version mismatch: --cni-version is {wanted!r} but {path} has "
            f"cniVersion {found!r}; set --cni-version={found} or leave it empty"
        )
        raise WaitForInput(msg, path=path, kind="version-mismatch")
    return str(found)


_VERSION_PART = re.compile(r"[+-]?\d+")


def is_version_1_or_later(version: str) -> bool:
    """Return whether *version* is 1.0.0 or later, parsed like libcni; unparsable is earlier."""
    parts = version.split(".")
    if not version or len(parts) > 3 or not all(_VERSION_PART.fullmatch(part) for part in parts):
        return False
    numbers = [int(part) for part in parts] + [0] * (3 - len(parts))
    return tuple(numbers) >= (1, 0, 0)
