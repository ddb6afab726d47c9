"""A handler that needs no flow: answer, play one prompt, hang up.

It proves the whole path (FreeSWITCH → server → session → FreeSWITCH) on a fresh install.
"""

from __future__ import annotations

import logging
import time

from ..session import OutboundSession
from .app import Handler

log = logging.getLogger("flowengine.call")


def greeting(prompt: str) -> Handler:
    def handle(session: OutboundSession) -> None:
        for app, arg in (("answer", None), ("playback", prompt)):
            started = time.monotonic()
            done = session.execute(app, arg)
            log.info("call=%s flow=greeting step=%s outcome=%s ms=%d", session.uuid, app,
                     done.application_response, (time.monotonic() - started) * 1000)
        session.hangup("NORMAL_CLEARING")
        log.info("call=%s flow=greeting step=hangup outcome=NORMAL_CLEARING", session.uuid)
    return handle
