"""Calls that start from flowengine: ``bgapi originate`` over inbound Event Socket, the new
channel connected to the engine's socket and routed by a signed token (docs/originate.md).

:mod:`.line` writes the originate command, :mod:`.control` speaks to FreeSWITCH and follows
each call to its end, :mod:`.cli` is ``run.py originate``; for ``POST /calls``, :mod:`.pacing`
holds the queue and its pacing, :mod:`.link` the control connection kept up, :mod:`.dialer`
the calls from queue to end and their deadlines.
"""
