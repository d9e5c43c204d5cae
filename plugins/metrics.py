"""Prometheus metrics on a loopback address, off unless ``--metrics-address`` is set.

Needs the optional ``prometheus-client`` package
(``pip install 'multus-config[metrics]'``). The server runs in a thread of
the supervisor and serves ``GET /metrics``.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import Any

from supervisor import OptionRegistry, Settings, UsageError, hookimpl
from supervisor.machine import STATES, TransitionInfo

from plugins import kubeconfig

log = logging.getLogger(__name__)


def parse_address(text: str) -> tuple[str, int]:
    """Return host and port of ``HOST:PORT`` (``[::1]:PORT`` for IPv6), which must be loopback."""
    host, separator, port = text.rpartition(":")
    host = host.strip("[]")
    if not separator or not port.isdigit() or not 0 < int(port) < 65536:
        msg = f"--metrics-address={text!r} must be HOST:PORT, for example 127.0.0.1:9464"
        raise UsageError(msg)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        msg = f"--metrics-address={text!r}: the host must be a loopback address (127.0.0.0/8 or ::1)"
        raise UsageError(msg)
    return host, int(port)


class MetricsPlugin:
    """Counts renders, installs and errors, and serves them for Prometheus."""

    def __init__(self) -> None:
        self._metrics: dict[str, Any] = {}
        #: Where to serve, once the lifecycle starts; ``None`` when disabled.
        self._address: tuple[str, int] | None = None

    @hookimpl
    def multus_config_add_options(self, options: OptionRegistry) -> None:
        options.add_string(
            "--metrics-address",
            default="",
            help="serve Prometheus metrics at http://HOST:PORT/metrics on this loopback address; empty disables",
            section="supervisor",
        )

    @hookimpl
    def multus_config_validate_settings(self, settings: Settings) -> None:
        if not settings.metrics_address:
            return
        self._address = parse_address(settings.metrics_address)
        try:
            import prometheus_client  # noqa: F401 - checked here, imported when serving
        except ImportError:
            msg = "--metrics-address needs the prometheus-client package: pip install 'multus-config[metrics]'"
            raise UsageError(msg) from None

    def _start(self, host: str, port: int) -> None:
        import prometheus_client as client

        registry = client.CollectorRegistry()
        self._metrics = {
            "renders": client.Counter("multus_config_renders", "Renders, by result", ["result"], registry=registry),
            "installs": client.Counter("multus_config_installs", "Files written", registry=registry),
            "skipped": client.Counter("multus_config_skipped_writes", "Files found current, so not written", registry=registry),
            "errors": client.Counter("multus_config_errors", "Failed renders and installs, by kind", ["kind"], registry=registry),
            "state": client.Enum("multus_config_state", "Lifecycle state", states=STATES, registry=registry),
            "last_install": client.Gauge(
                "multus_config_last_install_timestamp_seconds", "Time of the last install (Unix time)", registry=registry
            ),
            "token_expiry": client.Gauge(
                "multus_config_token_expiry_timestamp_seconds",
                "Expiry of the service-account token (Unix time), 0 when unknown",
                registry=registry,
            ),
        }
        try:
            client.start_http_server(port, addr=host, registry=registry)
        except OSError as error:
            log.error("Cannot serve metrics on %s:%d: %s; continuing without them", host, port, error.strerror or error)
            self._metrics = {}
            return
        log.info("Serving Prometheus metrics at http://%s:%d/metrics", host, port)

    @hookimpl
    def multus_config_observe_transition(self, transition: TransitionInfo) -> None:
        # Only the running supervisor has transitions, so the render and
        # status commands never open the port.
        if self._address is not None:
            address, self._address = self._address, None
            self._start(*address)
        if not self._metrics:
            return
        metrics = self._metrics
        metrics["state"].state(transition.dest)
        if transition.trigger == "render":
            metrics["renders"].labels(result="failed" if transition.error_kind else "ok").inc()
        if transition.error_kind:
            metrics["errors"].labels(kind=transition.error_kind).inc()
        if transition.trigger == "install":
            metrics["skipped"].inc(transition.current)
            if transition.written:
                metrics["installs"].inc(transition.written)
                metrics["last_install"].set(time.time())

    @hookimpl
    def multus_config_describe(self, settings: Settings) -> dict[str, Any]:
        # Called when the state is recorded; a cheap moment to refresh the
        # token expiry without reading the token on every render.
        if self._metrics and not settings.kubeconfig_file:
            try:
                expiry = kubeconfig.token_expiry(kubeconfig.read_token(kubeconfig.token_path(settings)))
            except Exception:  # noqa: BLE001 - an unusable token is reported by the renderer
                expiry = None
            self._metrics["token_expiry"].set(expiry.timestamp() if expiry else 0)
        return {}


plugin = MetricsPlugin()
