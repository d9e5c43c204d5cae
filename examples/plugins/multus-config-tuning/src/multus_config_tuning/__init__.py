"""multus-config plugin that chains the CNI ``tuning`` plugin after multus.

With ``--tuning-sysctl=KEY=VALUE[,KEY=VALUE...]`` the generated
``00-multus.conflist`` gets a second plugin, ``{"type": "tuning", "sysctl":
{...}}``. The container runtime runs it after multus in every pod's network
namespace, so each pod gets these network sysctls.

A ``00-multus.conf`` (primary CNI config older than cniVersion 1.0.0) contains
a single plugin and cannot chain another. It is installed unchanged, and a
warning is logged once each time the output switches to ``.conf``. With
``--multus-conf-file=PATH`` the file is installed as given, so the option is
rejected there as a usage error.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from supervisor import DesiredFile, OptionRegistry, Settings, UsageError, hookimpl

log = logging.getLogger(__name__)

SECTION = "tuning plugin (multus-config-tuning)"
OPTION = "--tuning-sysctl"
FORMAT = "KEY=VALUE[,KEY=VALUE...] where KEY is a network sysctl, such as net.core.somaxconn=500"
#: Type of the chained plugin, the binary name of containernetworking/plugins' tuning.
TUNING_TYPE = "tuning"
_SYSCTL_NAME = re.compile(r"[A-Za-z0-9_-]+(?:[./][A-Za-z0-9_-]+)*")
#: A network sysctl name. The tuning plugin replaces "." with "/" and writes
#: only below /proc/sys/net/, so the name must start with "net".
_NET_SYSCTL_NAME = re.compile(r"net(?:[./][A-Za-z0-9_-]+)+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _invalid(item: str, reason: str) -> UsageError:
    return UsageError(f"{OPTION}: invalid value {item!r}: {reason} (expected {FORMAT})")


def parse_sysctls(text: str) -> dict[str, str]:
    """Parse the value of ``--tuning-sysctl`` into a key-to-value mapping.

    An empty or blank value returns an empty mapping. Whitespace around
    entries, keys and values is dropped.

    :raises UsageError: naming the option, the rejected entry, the reason and
        the expected format.
    """
    sysctls: dict[str, str] = {}
    if not text.strip():
        return sysctls
    # The tuning plugin reads "net.core.x" and "net/core/x" as one file.
    paths: dict[str, str] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            raise _invalid(text, "empty entry between commas")
        key, equals, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not equals:
            raise _invalid(item, "missing '='")
        if not _SYSCTL_NAME.fullmatch(key):
            raise _invalid(item, f"key {key!r} is not a sysctl name (letters, digits, '_' and '-', separated by '.' or '/')")
        if not _NET_SYSCTL_NAME.fullmatch(key):
            raise _invalid(item, f"key {key!r} is outside net., the only sysctls the tuning plugin sets")
        if not value:
            raise _invalid(item, "empty value")
        if _CONTROL.search(value):
            raise _invalid(item, "the value contains a control character")
        path = key.replace(".", "/")
        if path in paths:
            raise _invalid(item, f"key {key!r} is given twice (first as {paths[path]!r})")
        paths[path] = key
        sysctls[key] = value
    return sysctls


def multus_document_kind(document: Any) -> str | None:
    """Return ``"conflist"`` or ``"conf"`` for a Multus config document, else ``None``."""
    if not isinstance(document, dict):
        return None
    plugins = document.get("plugins")
    if isinstance(plugins, list) and plugins and isinstance(plugins[0], dict) and plugins[0].get("type") == "multus":
        return "conflist"
    if document.get("type") == "multus":
        return "conf"
    return None


class TuningPlugin:
    """Adds the tuning plugin to the Multus config list."""

    def __init__(self) -> None:
        #: The ``.conf`` file last warned about, reset once tuning is chained again.
        self.warned_conf: Path | None = None
        #: Whether the last render chained tuning, or ``None`` before any render.
        self.chained: bool | None = None

    @hookimpl
    def multus_config_add_options(self, options: OptionRegistry) -> None:
        # NOTE: OptionRegistry offers no repeatable option, so a repeated
        # --tuning-sysctl replaces the earlier value. The README documents this.
        options.add_string(
            OPTION,
            default="",
            help=(
                "network sysctls that the CNI tuning plugin, chained after multus in "
                "00-multus.conflist, sets in every pod's network namespace, as "
                "comma-separated KEY=VALUE pairs such as net.core.somaxconn=500; "
                "empty chains no tuning plugin"
            ),
            section=SECTION,
        )

    @hookimpl
    def multus_config_validate_settings(self, settings: Settings) -> None:
        sysctls = parse_sysctls(settings.tuning_sysctl)
        explicit = getattr(settings, "multus_conf_file", "auto")
        if sysctls and explicit != "auto":
            msg = (
                f"{OPTION} cannot be applied with --multus-conf-file={explicit}, "
                "because that file is installed as given; add the tuning plugin "
                "to the file itself or use --multus-conf-file=auto"
            )
            raise UsageError(msg)

    @hookimpl
    def multus_config_modify_document(self, settings: Settings, desired: DesiredFile, document: Any) -> None:
        sysctls = parse_sysctls(settings.tuning_sysctl)
        kind = multus_document_kind(document)
        if not sysctls or kind is None:
            return
        if kind == "conflist":
            document["plugins"].append({"type": TUNING_TYPE, "sysctl": sysctls})
            self.chained = True
            self.warned_conf = None
            return
        self.chained = False
        if self.warned_conf != desired.path:
            log.warning(
                "Not chaining the tuning plugin: %s is a single-plugin config "
                "(cniVersion %s is earlier than 1.0.0) and cannot chain plugins, "
                "so %s takes effect only once the primary CNI config has "
                "cniVersion 1.0.0 or later",
                desired.path,
                document.get("cniVersion", "unknown"),
                OPTION,
            )
            self.warned_conf = desired.path

    @hookimpl
    def multus_config_describe(self, settings: Settings) -> dict[str, Any]:
        sysctls = parse_sysctls(settings.tuning_sysctl)
        if not sysctls:
            return {}
        return {"tuning_sysctl": sysctls, "tuning_chained": self.chained}


plugin = TuningPlugin()
