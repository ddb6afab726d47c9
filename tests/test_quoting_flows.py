"""What a flow does with call data it cannot send safely, and what the logs show of it."""

from __future__ import annotations

import io
import json
import logging
import re

from flowengine.esl import Event
from flowengine.server.logs import JsonFormatter, TextFormatter

from .flowkit import flow_from, play, script

HOSTILE_NUMBER = b"1001%2Csofia%2Fgateway%2Fpstn%2F19005550100"


def channel(number: bytes = b"5551234", name: bytes = b"Alice") -> Event:
    return Event.from_plain(b"Event-Name: CHANNEL_DATA\nUnique-ID: u-1\nCaller-Caller-ID-Name: " + name
                            + b"\nCaller-Caller-ID-Number: " + number + b"\nCaller-Destination-Number: 1000\n\n")


BRIDGE = """
name: b
start: ring
{on_error}
steps:
  ring:
    bridge: "user/${{caller_id_number}}"
    on: {{answered: bye}}
  sorry: {{playback: ivr/sorry.wav, next: bye}}
  bye: {{hangup: NORMAL_CLEARING}}
"""


def test_a_dial_string_the_call_would_extend_is_never_sent_and_the_call_ends_cleanly(caplog):
    flow = flow_from(BRIDGE.format(on_error=""))
    with caplog.at_level(logging.ERROR, "flowengine.flow"):
        run = play(flow, script(), channel=channel(HOSTILE_NUMBER))
    assert not any(app == "bridge" for app, _ in run.executed)
    assert run.executed[-1] == ("hangup", "NORMAL_TEMPORARY_FAILURE")
    line = next(r.getMessage() for r in caplog.records if "UnsafeValue" in r.getMessage())
    assert "flow=b" in line and "step=ring" in line and "caller_id_number" in line and "','" in line


def test_a_refused_value_takes_the_flows_on_error_step():
    flow = flow_from(BRIDGE.format(on_error="on_error: sorry"))
    run = play(flow, script(), channel=channel(HOSTILE_NUMBER))
    assert [app for app, _ in run.executed] == ["set", "set", "playback", "hangup"]
    assert run.visited == ["ring", "sorry", "bye"]


def test_a_plain_number_still_rings():
    flow = flow_from(BRIDGE.format(on_error=""))
    run = play(flow, script(), channel=channel(b"1001"))
    assert ("bridge", "user/1001") in run.executed


STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|ERROR|WARNING) ")


def _logged(formatter: logging.Formatter, number: bytes) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("flowengine")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        flow = flow_from(BRIDGE.format(on_error=""))
        play(flow, script(), channel=channel(number, name=b"Eve%0A2026-12-01%2000%3A00%3A00%2C000%20INFO%20x"))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    return stream.getvalue()


def test_call_data_cannot_forge_a_text_log_line():
    forged = b"1001%0A2026-12-01%2000%3A00%3A00%2C000%20INFO%20flowengine.flow%20call%3Dx%20outcome%3Dok%0D"
    text = _logged(TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"), forged)
    lines = text.splitlines()
    assert lines and all(STAMP.match(line) for line in lines), lines
    assert "2026-12-01 00:00:00,000 INFO" in text          # there, but inside a line


def test_the_text_formatter_escapes_controls_and_indents_tracebacks():
    formatter = TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        raise RuntimeError("boom\n2026-12-01 00:00:00,000 INFO forged")
    except RuntimeError as exc:
        info = (type(exc), exc, exc.__traceback__)
    record = logging.LogRecord("flowengine.server", logging.INFO, __file__, 1, "call end caller=%s",
                               ("555\r\n2026-12-01 00:00:00,000 INFO forged\u2028\x1b[2J",), info)
    lines = formatter.format(record).split("\n")
    assert STAMP.match(lines[0]) and "caller=555\\x0d\\x0a2026" in lines[0] and "\\u2028\\x1b[2J" in lines[0]
    assert all(line.startswith("    ") for line in lines[1:]) and len(lines) > 2


def test_json_log_lines_stay_one_valid_object_each():
    text = _logged(JsonFormatter(), b"1001%0A%E2%80%A8x%1B")
    lines = text.split("\n")[:-1]
    records = [json.loads(line) for line in lines]
    assert records and all("\u2028" not in line for line in lines)
    assert any("caller_id_number" in r["msg"] for r in records)
