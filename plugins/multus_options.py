"""The flags of Multus-CNI's ``thin_entrypoint``, with the same names, defaults and meanings.

Additions: ``--service-account-dir`` (the entrypoint hard-codes the path) and
``--compare``. ``--multus-cni-conf-dir`` defaults to empty, because the
entrypoint's default is a container-side path that means nothing to the
plugin on the host.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from supervisor import OptionRegistry, Settings, UsageError, hookimpl

SECTION = "Multus (same flags as thin_entrypoint)"
#: Values accepted by the multus plugin's "logLevel" key.
LOG_LEVELS = ("debug", "verbose", "error", "panic")
#: Value of --multus-conf-file that renders the config from the primary CNI config.
AUTO = "auto"
#: Characters of a host name, an IPv4 address or an IPv6 address with a zone.
_HOST = re.compile(r"[A-Za-z0-9.:%\-\[\]]+")
#: Values of --kubeconfig-file-mode.
KUBECONFIG_MODES = ("copy", "reference")


@hookimpl
def multus_config_add_options(options: OptionRegistry) -> None:
    string = options.add_string
    boolean = options.add_bool
    string("--cni-bin-dir", default="/host/opt/cni/bin", help="directory the multus binary is copied to", section=SECTION)

    string(
        "--cni-conf-dir",
        default="/host/etc/cni/net.d",
        help="directory of 00-multus.conf[list] and multus.d/multus.kubeconfig",
        section=SECTION,
    )

    string(
        "--cni-version",
        default="",
        help="CNI version of the generated config; when set, the primary config must have the same cniVersion",
        section=SECTION,
    )

    string(
        "--multus-conf-file",
        default=AUTO,
        help="'auto' renders the config from the primary CNI config; a path installs that file as it is",
        section=SECTION,
    )

    string("--multus-bin-file", default="/usr/src/multus-cni/bin/multus", help="multus binary to copy", section=SECTION)

    string(
        "--multus-cni-conf-dir",
        default="",
        help="directory written as \"confDir\" and created; empty leaves the plugin's default",
        section=SECTION,
    )

    boolean("--skip-multus-binary-copy", default=False, help="do not copy the multus binary", section=SECTION)

    string(
        "--multus-kubeconfig-file-host",
        default="/etc/cni/net.d/multus.d/multus.kubeconfig",
        help="kubeconfig path written into the config, as seen from the host; the file itself goes to <cni-conf-dir>/multus.d/",
        section=SECTION,
    )

    string(
        "--multus-master-cni-file-name",
        default="",
        help="name of the primary CNI config in the autoconfig directory, instead of the first one; an absolute path is used as it is",
        section=SECTION,
    )

    boolean("--namespace-isolation", default=False, help="write \"namespaceIsolation\": true", section=SECTION)

    string(
        "--global-namespaces",
        default="",
        help="comma-separated namespaces written as \"globalNamespaces\"",
        section=SECTION,
    )

    string(
        "--multus-autoconfig-dir",
        default="/host/etc/cni/net.d",
        help="directory searched for the primary CNI config",
        section=SECTION,
    )

    boolean("--multus-log-to-stderr", default=True, help="false writes \"logToStderr\": false", section=SECTION)

    options.add_choice(
        "--multus-log-level",
        choices=LOG_LEVELS,
        default="",
        help="written as \"logLevel\" in lower case",
        section=SECTION,
    )

    string("--multus-log-file", default="", help="written as \"logFile\"", section=SECTION)

    boolean(
        "--override-network-name",
        default=False,
        help="use the primary config's name instead of multus-cni-network",
        section=SECTION,
    )

    boolean(
        "--rename-conf-file",
        default=False,
        help="rename the primary config to <name>.old after installing; restored by cleanup",
        section=SECTION,
    )

    string(
        "--readiness-indicator-file",
        default="",
        help="written as \"readinessindicatorfile\"; nothing is installed until this file exists",
        section=SECTION,
    )

    string("--additional-bin-dir", default="", help="written as \"binDir\"", section=SECTION)

    boolean(
        "--skip-tls-verify",
        default=False,
        help="kubeconfig gets insecure-skip-tls-verify instead of the CA",
        section=SECTION,
    )

    boolean(
        "--force-cni-version",
        default=False,
        help="set the primary config's cniVersion to --cni-version in the delegate (for test clusters)",
        section=SECTION,
    )

    string(
        "--service-account-dir",
        default="/var/run/secrets/kubernetes.io/serviceaccount",
        help="directory with the service-account 'token' and 'ca.crt' for the kubeconfig",
        section=SECTION,
    )

    source = "kubeconfig source (for nodes without a pod service account)"

    string(
        "--kubeconfig-file",
        default="",
        help="existing kubeconfig to use instead of building one from a token",
        section=source,
    )

    options.add_choice(
        "--kubeconfig-file-mode",
        choices=KUBECONFIG_MODES,
        default="copy",
        help=(
            "'copy' keeps multus.d/multus.kubeconfig equal to --kubeconfig-file; "
            "'reference' writes no kubeconfig and puts --kubeconfig-file into the config"
        ),
        section=source,
    )

    string(
        "--api-server",
        default="",
        help="API server URL for the built kubeconfig, instead of KUBERNETES_SERVICE_HOST and _PORT",
        section=source,
    )

    string("--token-file", default="", help="token file, instead of <service-account-dir>/token", section=source)

    string("--ca-file", default="", help="CA file, instead of <service-account-dir>/ca.crt", section=source)


@hookimpl
def multus_config_validate_settings(settings: Settings) -> None:
    if settings.force_cni_version and not settings.cni_version:
        msg = "--force-cni-version needs --cni-version=VERSION (the version to force)"
        raise UsageError(msg)
    if settings.multus_conf_file != AUTO:
        if not settings.multus_conf_file:
            msg = "--multus-conf-file must be 'auto' or the path of a config file, not empty"
            raise UsageError(msg)
        settings.multus_conf_file = os.path.abspath(settings.multus_conf_file)
    for name in ("kubeconfig_file", "token_file", "ca_file"):
        if getattr(settings, name):
            setattr(settings, name, os.path.abspath(getattr(settings, name)))
    _validate_directories(settings)
    if settings.kubeconfig_file_mode == "reference" and not settings.kubeconfig_file:
        msg = "--kubeconfig-file-mode=reference needs --kubeconfig-file=PATH (the kubeconfig to reference)"
        raise UsageError(msg)
    if settings.kubeconfig_file:
        others = [flag for flag, value in (("--api-server", settings.api_server), ("--token-file", settings.token_file), ("--ca-file", settings.ca_file)) if value]
        if others:
            msg = f"--kubeconfig-file cannot be combined with {', '.join(others)}: give an existing kubeconfig, or the inputs to build one"
            raise UsageError(msg)
        if settings.kubeconfig_file_mode == "reference":
            # The multus plugin reads the given file where it is.
            settings.multus_kubeconfig_file_host = settings.kubeconfig_file
        return
    if settings.api_server:
        _validate_api_server(settings.api_server)
    else:
        _validate_kubernetes_service()


def _has_control_or_space(text: str) -> bool:
    return any(character.isspace() or ord(character) < 0x20 or character == "\x7f" for character in text)


def _validate_api_server(url: str) -> None:
    if _has_control_or_space(url) or '"' in url:
        msg = f"--api-server={url!r} contains whitespace, quotes or control characters"
        raise UsageError(msg)
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        msg = f"--api-server={url!r} is not an http or https URL with a host (for example https://10.0.0.1:6443)"
        raise UsageError(msg)


def _validate_directories(settings: Settings) -> None:
    for name in ("cni_conf_dir", "multus_autoconfig_dir", "cni_bin_dir", "service_account_dir"):
        value = getattr(settings, name)
        flag = "--" + name.replace("_", "-")
        if not value:
            msg = f"{flag} must not be empty"
            raise UsageError(msg)
        setattr(settings, name, os.path.abspath(value))


def _validate_kubernetes_service() -> None:
    """Check the variables that kubelet sets in every pod; the kubeconfig needs them."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        msg = (
            "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set for the "
            "kubeconfig (kubelet sets them in every pod; on a host, export the API "
            "server's address and port)"
        )
        raise UsageError(msg)
    if not _HOST.fullmatch(host):
        msg = f"KUBERNETES_SERVICE_HOST={host!r} is not a host name or IP address"
        raise UsageError(msg)
    if not port.isdigit() or not 0 < int(port) < 65536:
        msg = f"KUBERNETES_SERVICE_PORT={port!r} is not a port number (1-65535)"
        raise UsageError(msg)
    protocol = os.environ.get("KUBERNETES_SERVICE_PROTOCOL", "")
    if protocol not in ("", "http", "https"):
        msg = f"KUBERNETES_SERVICE_PROTOCOL={protocol!r} is invalid (allowed: http, https, or unset)"
        raise UsageError(msg)


def conf_dir(settings: Settings) -> Path:
    """Return the directory the CNI config and kubeconfig are installed in."""
    return Path(settings.cni_conf_dir)
