"""Hook specifications: every extension point of multus-config.

Plugins implement these with ``@supervisor.hookimpl`` and are found through
the ``multus_config`` entry-point group. The built-in Multus behaviour in the
``plugins`` package uses exactly these hooks. The supervisor calls them only
through :class:`supervisor.hooks.Hooks`.

Unless a hook's documentation states otherwise, every plugin's implementation
is called and the results are collected in a list, last registered plugin first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from supervisor.files import DesiredFile
    from supervisor.machine import TransitionInfo
    from supervisor.options import OptionRegistry, Settings

from supervisor.markers import PROJECT

hookspec = pluggy.HookspecMarker(PROJECT)


# -- Start-up ------------------------------------------------------------------


@hookspec
def multus_config_add_options(options: OptionRegistry) -> None:
    """Declare command-line options.

    Called once at start, before the command line is parsed.

    :param options: the registry; call its ``add_string``, ``add_bool``,
        ``add_choice`` or ``add_seconds`` method once per option.
    """


@hookspec
def multus_config_validate_settings(settings: Settings) -> None:
    """Check option values before anything is written.

    Called once after parsing. Raise :class:`supervisor.UsageError` with a
    message that names the option, the value and the allowed values; the
    process then exits with status 2. A plugin may also normalise values in
    place.

    :param settings: the parsed options.
    """


@hookspec
def multus_config_watch_paths(settings: Settings) -> list[Path]:
    """Name the directories whose changes require a new render.

    Called at start and again after each render, since a render can change
    which inputs matter. Return directories, not files: kubelet replaces
    service-account files by swapping a ``..data`` symlink, which shows up as
    events in the directory only. A directory that does not exist yet is
    watched through its nearest existing parent until it appears. The
    directories of all rendered files are watched in addition, so that an
    external edit or deletion of an installed file is repaired.

    :param settings: the parsed options.
    :return: directories to watch; all plugins' lists are merged.
    """


# -- Rendering -----------------------------------------------------------------


@hookspec
def multus_config_render(settings: Settings) -> list[DesiredFile]:
    """Return the files this plugin wants on disk for the current inputs.

    Called on start, after each input event, on the periodic resync and on
    SIGHUP. Read inputs here and return :class:`supervisor.DesiredFile`
    objects. Raise :class:`supervisor.WaitForInput` when an input is missing
    or invalid: the supervisor then installs nothing from this render and
    keeps the files already on disk.

    :param settings: the parsed options.
    :return: desired files; the lists of all plugins are concatenated. Two
        plugins must not return the same path.
    """


@hookspec
def multus_config_modify_document(
    settings: Settings, desired: DesiredFile, document: Any
) -> None:
    """Change a rendered document before it is encoded.

    Called once per desired file that carries a ``document`` (the Multus CNI
    config is one), after every renderer has run. Change ``document`` in
    place, for example to add options or chained plugins; the supervisor
    encodes it afterwards with the file's encoder. Raise
    :class:`supervisor.WaitForInput` to reject the whole render.

    :param settings: the parsed options.
    :param desired: the file the document belongs to; ``desired.path``
        identifies it.
    :param document: the mutable document, usually a ``dict``.
    """


@hookspec(firstresult=True)
def multus_config_compare(
    settings: Settings, desired: DesiredFile, current: bytes
) -> bool | None:
    """Decide whether the installed content already equals the desired one.

    Called for each desired file that exists on disk as a regular file with
    the right mode. Stops at the first non-``None`` result. The built-in
    comparators compare SHA-256 digests of the bytes, or, with
    ``--compare=json``, JSON documents semantically.

    :param settings: the parsed options.
    :param desired: the rendered file; ``desired.encoded()`` is its content.
    :param current: the bytes on disk.
    :return: ``True`` when equal (nothing is written), ``False`` when the
        file must be installed, ``None`` to leave the decision to others.
    """


# -- Installation and shutdown -------------------------------------------------


@hookspec
def multus_config_after_install(settings: Settings, written: list[DesiredFile]) -> None:
    """React to files having been written.

    Called after an install wrote at least one file, with the files written.
    Errors are logged with the plugin's name and do not undo the install.

    :param settings: the parsed options.
    :param written: the files whose new content is now on disk.
    """


@hookspec
def multus_config_owned_paths(settings: Settings) -> list[Path]:
    """Name the files removed on exit when ``--cleanup-config-on-exit`` is set.

    Called once during shutdown with cleanup enabled.

    :param settings: the parsed options.
    :return: paths of files this plugin owns; the lists are merged. Paths that
        do not exist are skipped.
    """


@hookspec
def multus_config_teardown(settings: Settings, cleanup: bool) -> None:
    """Undo changes other than owned files before the process exits.

    Called once during shutdown, after owned files were removed (when cleanup
    is on). The Multus plugin restores a primary config it renamed.

    :param settings: the parsed options.
    :param cleanup: whether ``--cleanup-config-on-exit`` is set.
    """


# -- Observation ---------------------------------------------------------------


@hookspec
def multus_config_describe(settings: Settings) -> dict[str, Any]:
    """Report facts about this plugin's inputs for ``multus-config status``.

    Called when the supervisor records its state (on transitions that change
    it) and by the ``status`` command. Read only what is cheap to read; never
    return secrets.

    :param settings: the parsed options.
    :return: JSON-serialisable facts, such as the chosen primary config and
        why; the dictionaries of all plugins are merged, later keys winning.
    """


@hookspec
def multus_config_observe_transition(transition: TransitionInfo) -> None:
    """Observe a step of the lifecycle state machine.

    Called after every transition, including a failed render that leaves the
    state unchanged. Logging and systemd notification are observers. Errors
    are logged with the plugin's name and otherwise ignored.

    :param transition: the trigger, source and destination states, and a
        one-line status message.
    """
