"""Test-only multus-config plugin that blocks the main loop on demand.

The supervisor loads it through the ``multus_config`` entry-point group only
when this directory is on ``PYTHONPATH``, because ``importlib.metadata`` finds
the entry point in the ``.dist-info`` directory beside this module.

While the file named by ``MULTUS_CONFIG_TEST_HANG_FILE`` exists, every render
blocks in this hook, so the supervisor stops sending ``WATCHDOG=1``. Removing
the file lets a blocked render return.
"""

from __future__ import annotations

import logging
import os
import time

from supervisor import Settings, hookimpl

#: Environment variable with the path of the trigger file.
TRIGGER_ENV = "MULTUS_CONFIG_TEST_HANG_FILE"
#: Interval in seconds between checks of the trigger file.
POLL_SECONDS = 0.2

log = logging.getLogger(__name__)


@hookimpl
def multus_config_render(settings: Settings) -> list:
    trigger = os.environ.get(TRIGGER_ENV)
    if not trigger or not os.path.exists(trigger):
        return []
    log.warning("Trigger file %s exists, so the render blocks until it is removed", trigger)
    while os.path.exists(trigger):
        time.sleep(POLL_SECONDS)
    log.warning("Trigger file %s was removed, so the render continues", trigger)
    return []
