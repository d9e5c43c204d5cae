"""Lay out the Multus CNI config exactly as Multus-CNI's entrypoint does.

The entrypoint fills a text template: one generated key per line, the
delegates compact on their own lines, eight spaces of indentation for a
single-plugin ``.conf`` and four (inside a one-plugin ``plugins`` list) for a
``.conflist``. Documents extended by other plugins keep that layout: extra
keys come one per line before ``delegates``, extra chained plugins follow the
multus plugin compactly.
"""

from __future__ import annotations

from typing import Any

from plugins.goencode import encode

#: Keys written after every other key of the multus plugin, in this order.
_LAST_KEYS = ("delegates",)


def _object_lines(plugin: dict[str, Any], indent: str, item_indent: str) -> list[str]:
    keys = [key for key in plugin if key not in _LAST_KEYS]
    lines = [f"{indent}{encode(key)}: {encode(plugin[key])}," for key in keys]
    delegates = plugin.get("delegates", [])
    lines.append(f"{indent}\"delegates\": [")
    encoded = [f"{item_indent}{encode(delegate)}" for delegate in delegates]
    lines.append(",\n".join(encoded))
    lines.append(f"{indent}]")
    return lines


def render_conf(document: dict[str, Any]) -> bytes:
    """Return a single-plugin multus config laid out like the entrypoint's ``.conf``."""
    lines = ["{", *_object_lines(document, " " * 8, " " * 16), "}", ""]
    return "\n".join(lines).encode("utf-8")


def render_conflist(document: dict[str, Any]) -> bytes:
    """Return a multus config list laid out like the entrypoint's ``.conflist``."""
    indent = " " * 4
    keys = [key for key in document if key != "plugins"]
    lines = ["{"]
    lines += [f"{indent}{encode(key)}: {encode(document[key])}," for key in keys]
    multus, *chained = document["plugins"]
    lines.append(f"{indent}\"plugins\": [ {{")
    lines += _object_lines(multus, " " * 8, " " * 12)
    closing = f"{indent}}}"
    for plugin in chained:
        closing += f", {encode(plugin)}"
    lines.append(closing + "]")
    lines += ["}", ""]
    return "\n".join(lines).encode("utf-8")
