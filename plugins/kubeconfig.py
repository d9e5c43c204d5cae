"""Render ``multus.d/multus.kubeconfig`` from the service-account token and CA.

The layout is the one Multus-CNI's entrypoint writes. The token is written as
a YAML double-quoted string with JSON escapes, so quotes or backslashes in it
cannot break the file.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from supervisor import DesiredFile, Settings, WaitForInput, hookimpl

from plugins import inputs
from plugins.multus_options import conf_dir

TEMPLATE = """\
# Kubeconfig file for Multus CNI plugin.
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: {server}
    {tls}
users:
- name: multus
  user:
    token: {token}
contexts:
- name: multus-context
  context:
    cluster: local
    user: multus
current-context: multus-context
"""
MAX_CREDENTIAL_BYTES = 64 * 1024
PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"
PEM_END = b"-----END CERTIFICATE-----"


def kubeconfig_path(settings: Settings) -> Path:
    """Return where the kubeconfig is installed."""
    return conf_dir(settings) / "multus.d" / "multus.kubeconfig"


def server_url(settings: Settings) -> str:
    """Return the API server URL: ``--api-server``, or the variables kubelet sets in every pod."""
    if settings.api_server:
        return str(settings.api_server).rstrip("/")
    protocol = os.environ.get("KUBERNETES_SERVICE_PROTOCOL") or "https"
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ["KUBERNETES_SERVICE_PORT"]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{protocol}://{host}:{port}"


def read_token(path: Path) -> str:
    """Return the bearer token without its trailing newline.

    :raises WaitForInput: when it is missing, empty or not a single line of
        printable ASCII. The message never contains the token.
    """
    data = inputs.read_file(path, "service-account token", MAX_CREDENTIAL_BYTES)
    token = data.rstrip(b"\r\n")
    if not token:
        raise WaitForInput(f"service-account token {path} is empty", path=path, kind="empty-token")
    if not all(0x21 <= byte <= 0x7E for byte in token):
        msg = f"service-account token {path} contains whitespace, control or non-ASCII characters"
        raise WaitForInput(msg, path=path, kind="invalid-token")
    return token.decode("ascii")


def read_ca(path: Path) -> bytes:
    """Return the CA bundle, which must hold at least one PEM certificate."""
    data = inputs.read_file(path, "service-account CA", MAX_CREDENTIAL_BYTES)
    begin = data.find(PEM_BEGIN)
    if begin < 0 or data.find(PEM_END, begin) < 0:
        msg = f"service-account CA {path} does not contain a PEM certificate"
        raise WaitForInput(msg, path=path, kind="invalid-ca")
    return data


def token_path(settings: Settings) -> Path:
    """Return the token file: ``--token-file`` or the one in ``--service-account-dir``."""
    return Path(settings.token_file or Path(settings.service_account_dir) / "token")


def ca_path(settings: Settings) -> Path:
    """Return the CA file: ``--ca-file`` or the one in ``--service-account-dir``."""
    return Path(settings.ca_file or Path(settings.service_account_dir) / "ca.crt")


@hookimpl
def multus_config_watch_paths(settings: Settings) -> list[Path]:
    if settings.kubeconfig_file:
        return [Path(settings.kubeconfig_file).parent]
    return sorted({token_path(settings).parent, ca_path(settings).parent})


def _copied_kubeconfig(settings: Settings) -> list[DesiredFile]:
    if settings.kubeconfig_file_mode == "reference":
        return []
    source = Path(settings.kubeconfig_file)
    content = inputs.read_file(source, "kubeconfig given by --kubeconfig-file", MAX_CREDENTIAL_BYTES)
    if not content.strip():
        raise WaitForInput(f"kubeconfig given by --kubeconfig-file {source} is empty", path=source, kind="empty-file")
    path = kubeconfig_path(settings)
    return [DesiredFile(path=path, content=content, mode=0o600, root=conf_dir(settings), sensitive=True, label="kubeconfig")]


@hookimpl
def multus_config_render(settings: Settings) -> list[DesiredFile]:
    if settings.kubeconfig_file:
        return _copied_kubeconfig(settings)
    token = read_token(token_path(settings))
    if settings.skip_tls_verify:
        tls = "insecure-skip-tls-verify: true"
    else:
        ca = read_ca(ca_path(settings))
        tls = "certificate-authority-data: " + base64.b64encode(ca).decode("ascii")
    text = TEMPLATE.format(server=server_url(settings), tls=tls, token=json.dumps(token))
    path = kubeconfig_path(settings)
    desired = DesiredFile(
        path=path,
        content=text.encode("utf-8"),
        mode=0o600,
        # The entrypoint's fixed temporary name is replaced as well.
        replaces=(path.with_name(path.name + ".new"),),
        root=conf_dir(settings),
        sensitive=True,
        label="kubeconfig",
    )
    return [desired]


def token_expiry(token: str) -> datetime | None:
    """Return the expiry time of a JWT bearer token from its ``exp`` claim, if it has one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
        expiry = claims["exp"]
        return datetime.fromtimestamp(int(expiry), tz=timezone.utc)
    except (ValueError, TypeError, KeyError, OverflowError, OSError):
        return None


@hookimpl
def multus_config_describe(settings: Settings) -> dict[str, Any]:
    if settings.kubeconfig_file:
        return {"kubeconfig_source": f"{settings.kubeconfig_file} ({settings.kubeconfig_file_mode})"}
    try:
        token = read_token(token_path(settings))
    except WaitForInput:
        return {"token_expiry": None}
    expiry = token_expiry(token)
    return {"token_expiry": expiry.isoformat() if expiry else None}


@hookimpl
def multus_config_owned_paths(settings: Settings) -> list[Path]:
    if settings.kubeconfig_file and settings.kubeconfig_file_mode == "reference":
        return []
    path = kubeconfig_path(settings)
    return [path, path.with_name(path.name + ".new")]
