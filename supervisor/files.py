"""The description of one file the supervisor should keep on disk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.digest import sha256_hex


@dataclass
class DesiredFile:
    """A file as a renderer wants it on disk.

    A renderer gives either ``content`` or a ``document`` with an ``encoder``.
    A document is passed to the ``multus_config_modify_document`` hook before
    the supervisor encodes it, so other plugins can extend it.
    """

    #: Absolute path of the file to keep.
    path: Path
    #: Final bytes, or ``None`` while ``document`` is still to be encoded.
    content: bytes | None = None
    #: Structured content that plugins may modify before encoding.
    document: Any = None
    #: Turns ``document`` into bytes.
    encoder: Callable[[Any], bytes] | None = None
    #: Permission bits set on the file before it is renamed into place.
    mode: int = 0o600
    #: Files removed after this one is installed, such as a stale sibling
    #: with another extension that the container runtime would load first.
    replaces: tuple[Path, ...] = ()
    #: Configured directory the file belongs under. The install is rejected
    #: when the file's directory resolves outside it, such as through a
    #: symlink planted in place of a subdirectory.
    root: Path | None = None
    #: Whether the content is secret (a token): never printed by the
    #: ``render`` command unless asked for.
    sensitive: bool = False
    #: Short description for logs ("multus config", "kubeconfig").
    label: str = "file"
    #: A file to copy instead of ``content``, read only when installing, so
    #: that a large binary is not kept in memory.
    source: Path | None = None
    #: SHA-256 hex digest of ``source``; required with ``source``.
    digest: str | None = None
    #: Name of the plugin that rendered the file; set by the supervisor.
    plugin: str = field(default="", compare=False)

    def encoded(self) -> bytes:
        """Return the final bytes, encoding ``document`` when needed.

        For a file with a ``source`` this reads the source each time, and
        raises ``OSError`` when it cannot.
        """
        if self.source is not None:
            data = self.source.read_bytes()
            if sha256_hex(data) != self.digest:
                msg = f"{self.source} changed while it was being installed"
                raise OSError(msg)
            return data
        if self.content is None:
            if self.encoder is None:
                msg = f"{self.path}: a document needs an encoder"
                raise ValueError(msg)
            self.content = self.encoder(self.document)
        return self.content

    @property
    def sha256(self) -> str:
        """SHA-256 hex digest of the content."""
        if self.digest is None:
            self.digest = sha256_hex(self.encoded())
        return self.digest

    @property
    def short_hash(self) -> str:
        """First 12 hex digits of the SHA-256 of the content."""
        return self.sha256[:12]
