"""Plugin loading and the typed facade through which the supervisor calls hooks."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pluggy

from supervisor import entrypoints, hookspecs
from supervisor.errors import WaitForInput
from supervisor.files import DesiredFile
from supervisor.machine import TransitionInfo
from supervisor.markers import PROJECT
from supervisor.options import OptionRegistry, Settings

log = logging.getLogger(__name__)

#: Entry-point group in which distributions register their plugins.
ENTRY_POINT_GROUP = "multus_config"
#: Environment variable with comma-separated plugin names not to load.
BLOCK_ENV = "MULTUS_CONFIG_BLOCK_PLUGINS"
#: Environment variable that, set to 1, logs every hook call and its result.
TRACE_ENV = "MULTUS_CONFIG_TRACE_HOOKS"

trace_log = logging.getLogger("supervisor.trace")


def _invoke(impl: pluggy.HookImpl, hook: str, **kwargs: Any) -> Any:
    """Call one plugin's implementation of *hook*, tracing it when asked to."""
    # pluggy lets an implementation accept a subset of the specified
    # arguments, so pass only the names it declares.
    arguments = [kwargs[name] for name in impl.argnames]
    if not _tracing:
        return impl.function(*arguments)
    started = time.perf_counter()
    try:
        result = impl.function(*arguments)
    except Exception as error:
        elapsed = (time.perf_counter() - started) * 1000
        trace_log.info("hook %s: plugin %r raised %s after %.2f ms", hook, impl.plugin_name, type(error).__name__, elapsed)
        raise
    elapsed = (time.perf_counter() - started) * 1000
    trace_log.info("hook %s: plugin %r returned %s in %.2f ms", hook, impl.plugin_name, _summary(result), elapsed)
    return result


def _summary(result: Any) -> str:
    if isinstance(result, list):
        return f"{len(result)} item(s)"
    if isinstance(result, dict):
        return f"{len(result)} key(s)"
    return repr(result) if result is None or isinstance(result, bool) else type(result).__name__


_tracing = os.environ.get(TRACE_ENV, "") not in ("", "0")


class RenderFailed(Exception):
    """One or more renderers could not produce their files."""

    def __init__(self, errors: list[WaitForInput]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


def create_plugin_manager(
    blocked: Iterable[str] = (), internal: Iterable[tuple[str, object]] = ()
) -> pluggy.PluginManager:
    """Return a plugin manager with the internal and installed plugins registered.

    :param blocked: names of plugins to skip, in addition to those listed in
        the ``MULTUS_CONFIG_BLOCK_PLUGINS`` environment variable.
    :param internal: ``(name, plugin)`` pairs registered before entry points.
    """
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(hookspecs)
    from_env = [name.strip() for name in os.environ.get(BLOCK_ENV, "").split(",")]
    for name in [*blocked, *from_env]:
        if name:
            manager.set_blocked(name)
    for name, plugin in internal:
        manager.register(plugin, name=name)
    found = set()
    for entry_point in entrypoints.entry_points(ENTRY_POINT_GROUP):
        found.add(entry_point.name)
        if manager.get_plugin(entry_point.name) is not None or manager.is_blocked(entry_point.name):
            continue
        try:
            plugin = entry_point.load()
        except Exception as error:  # noqa: BLE001 - a broken plugin must not stop the supervisor
            log.error(
                "Cannot load plugin %r (%s, from %s): %s: %s; continuing without it",
                entry_point.name, entry_point.value, entry_point.distribution, type(error).__name__, error,
            )
            continue
        manager.register(plugin, name=entry_point.name)
    for name in [*blocked, *from_env]:
        if name and name not in found:
            log.warning("Blocked plugin %r matches no installed plugin; the start-up log line lists the loaded plugins", name)
    manager.check_pending()
    return manager


class Hooks:
    """Typed calls into the plugins; the supervisor never uses ``pm.hook`` directly."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self._manager = manager
        self._hook = manager.hook

    def register(self, plugin: object, name: str) -> None:
        """Register a plugin after start-up, such as an observer that needs the settings."""
        self._manager.register(plugin, name=name)

    def plugin_names(self) -> list[str]:
        """Return the names of the registered plugins."""
        # Blocked plugins stay listed with ``None`` in place of the plugin.
        return sorted(name for name, plugin in self._manager.list_name_plugin() if plugin is not None)

    def add_options(self, options: OptionRegistry) -> None:
        """Let every plugin declare its options."""
        for impl in self._impls("multus_config_add_options"):
            _invoke(impl, "multus_config_add_options", options=options)

    def validate_settings(self, settings: Settings) -> None:
        """Let every plugin check the parsed options; raises ``UsageError``."""
        for impl in self._impls("multus_config_validate_settings"):
            _invoke(impl, "multus_config_validate_settings", settings=settings)

    def watch_paths(self, settings: Settings) -> list[Path]:
        """Return the merged, de-duplicated directories to watch."""
        merged: dict[Path, None] = {}
        for paths in self._call_each("multus_config_watch_paths", settings=settings):
            for path in paths or ():
                merged[Path(path)] = None
        return list(merged)

    def render(self, settings: Settings) -> list[DesiredFile]:
        """Return every plugin's desired files, encoded.

        :raises RenderFailed: with every plugin's reason when any renderer,
            or a document modifier, could not produce its files.
        """
        desired: list[DesiredFile] = []
        errors: list[WaitForInput] = []
        for impl in self._impls("multus_config_render"):
            try:
                files = _invoke(impl, "multus_config_render", settings=settings) or []
            except WaitForInput as error:
                errors.append(error)
                continue
            except Exception as error:  # noqa: BLE001 - a plugin may raise anything
                errors.append(self._plugin_failure(impl.plugin_name, "render", error))
                continue
            for item in files:
                item.plugin = impl.plugin_name
                desired.append(item)
        if not errors:
            errors = self._modify_and_encode(settings, desired)
        if errors:
            raise RenderFailed(errors)
        return desired

    def _modify_and_encode(
        self, settings: Settings, desired: list[DesiredFile]
    ) -> list[WaitForInput]:
        for item in desired:
            # Only documents are modified and encoded here. A copied file
            # (``source``) is read at install time, and checked there.
            if item.content is not None or item.source is not None:
                continue
            for impl in self._impls("multus_config_modify_document"):
                try:
                    _invoke(impl, "multus_config_modify_document", settings=settings, desired=item, document=item.document)
                except WaitForInput as error:
                    return [error]
                except Exception as error:  # noqa: BLE001 - a plugin may raise anything
                    return [self._plugin_failure(impl.plugin_name, "modify", error)]
            try:
                item.encoded()
            except (TypeError, ValueError, RecursionError) as error:
                message = f"cannot encode {item.path}: {error}"
                return [WaitForInput(message, path=item.path, kind="encode")]
        return []

    def compare(self, settings: Settings, desired: DesiredFile, current: bytes) -> bool:
        """Return whether *current* already equals the desired content."""
        # firstresult: the first implementation that returns a value decides.
        for impl in self._impls("multus_config_compare"):
            result = _invoke(impl, "multus_config_compare", settings=settings, desired=desired, current=current)
            if result is not None:
                return bool(result)
        return current == desired.encoded()

    def after_install(self, settings: Settings, written: list[DesiredFile]) -> None:
        """Tell every plugin which files were written."""
        self._call_each("multus_config_after_install", settings=settings, written=written)

    def owned_paths(self, settings: Settings) -> list[Path]:
        """Return the merged list of files removed by cleanup."""
        merged: dict[Path, None] = {}
        for paths in self._call_each("multus_config_owned_paths", settings=settings):
            for path in paths or ():
                merged[Path(path)] = None
        return list(merged)

    def teardown(self, settings: Settings, cleanup: bool) -> None:
        """Let every plugin undo its changes before exit."""
        self._call_each("multus_config_teardown", settings=settings, cleanup=cleanup)

    def describe(self, settings: Settings) -> dict[str, Any]:
        """Return every plugin's facts for the status report, merged."""
        merged: dict[str, Any] = {}
        for facts in self._call_each("multus_config_describe", settings=settings):
            merged.update(facts or {})
        return merged

    def observe_transition(self, transition: TransitionInfo) -> None:
        """Pass a lifecycle step to every observer."""
        self._call_each("multus_config_observe_transition", transition=transition)

    def _impls(self, name: str) -> list[pluggy.HookImpl]:
        """Return the implementations of hook *name* in pluggy's calling order."""
        return list(reversed(getattr(self._hook, name).get_hookimpls()))

    def _call_each(self, name: str, **kwargs: Any) -> list[Any]:
        """Call every implementation of hook *name*, isolating plugin errors."""
        results = []
        for impl in self._impls(name):
            try:
                results.append(_invoke(impl, name, **kwargs))
            except Exception as error:  # noqa: BLE001 - a plugin may raise anything
                self._plugin_failure(impl.plugin_name, name, error)
        return results

    @staticmethod
    def _plugin_failure(plugin: str, hook: str, error: Exception) -> WaitForInput:
        message = f"plugin {plugin!r} failed in {hook}: {type(error).__name__}: {error}"
        log.error("%s", message, exc_info=error)
        return WaitForInput(message, kind="plugin-error")
