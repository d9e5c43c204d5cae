"""Logs the state changes of the lifecycle.

A render that finds every file current (``steady -> rendered -> steady``) is
logged at debug level, because unrelated events in a watched directory cause
it often. Every install, wait and stop is logged at info level.
"""

from __future__ import annotations

import logging

from supervisor import logs
from supervisor.machine import TransitionInfo
from supervisor.markers import hookimpl

log = logging.getLogger(__name__)


class StateLog:
    """Observer plugin that logs transitions."""

    def __init__(self) -> None:
        self._reached_steady = False

    @hookimpl
    def multus_config_observe_transition(self, transition: TransitionInfo) -> None:
        logs.STATE_FIELD.state = transition.dest
        if transition.source == transition.dest:
            return
        routine = self._reached_steady and (
            (transition.source, transition.dest) in (("steady", "rendered"), ("rendered", "steady"))
        )
        if transition.dest == "steady":
            self._reached_steady = True
        level = logging.DEBUG if routine else logging.INFO
        extra = logs.fields(error_kind=transition.error_kind)
        log.log(level, "State %s -> %s: %s", transition.source, transition.dest, transition.message, extra=extra)
