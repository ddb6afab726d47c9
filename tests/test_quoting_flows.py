"""What a flow does with call data it cannot send safely, and what the logs show of it."""

from __future__ import annotations

import io
import json
import logging
import re

from flowengine.errors import UnsafeValue
from flowengine.esl import Event
from flowengine.esl.serialize import encode_value
from flowengine.logs import JsonFormatter, TextFormatter

from .flowkit import flow_from, play, script


def fs_encoded(text: str) -> bytes:
    """``text`` as FreeSWITCH writes a header value (switch_url_encode): a comma or a '/' as
    it is, ':' as %3A."""
    return encode_value(text).encode()


HOSTILE_NUMBER = fs_encoded("1001,sofia/gateway/pstn/19005550100")


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
        play(flow, script(), channel=channel(number, name=fs_encoded("Eve\n2026-12-01 00:00:00,000 INFO x")))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    return stream.getvalue()


def test_call_data_cannot_forge_a_text_log_line():
    forged = fs_encoded("1001\n2026-12-01 00:00:00,000 INFO flowengine.flow call=x outcome=ok\r")
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


# -- what an attack from outside found, kept as tests ----------------------------------------
EVIL_NAME = fs_encoded("${system touch /tmp/pwned}")


def _sent(flow_text: str, caller: Event) -> list[tuple[str, str]]:
    from .flowkit import complete
    run = play(flow_from(flow_text), lambda c: complete(c.app, c.arg), channel=caller)
    return run.executed


def _no_api(arg: str, passes: int = 2) -> bool:
    from . import freeswitch_model as fs
    _, found = fs.expand_passes(fs.chars(arg, "author"), passes, lambda name: None)
    return not any(e.kind == "api" for e in found)


def test_freeswitchs_own_forms_of_a_name_are_resolved_by_the_engine_not_left_to_it():
    for template in ("${caller_id_name:0:20}", "${Caller_ID_Name}", "${caller_id_name[0]}", "${who}"):
        executed = _sent(f"""
name: t
start: s
vars: {{who: "${{caller_id_name}}"}}
steps:
  s: {{set: {{x: "{template}"}}, next: bye}}
  bye: {{hangup: NORMAL_CLEARING}}
""", channel(name=EVIL_NAME))
        app, arg = executed[0]
        assert app == "set" and "caller_id_name" not in arg.lower() and "{who}" not in arg, (template, arg)
        assert _no_api(arg), (template, arg)


NAMED_BRIDGE = """
name: b
start: ring
steps:
  ring: {bridge: user/1000, caller_id: {name: "%s"}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


def test_an_enterprise_separator_in_a_caller_id_name_adds_no_target():
    from . import freeswitch_model as fs
    name = fs_encoded("x:_:sofia/gateway/pstn/19005550100:_:y")
    executed = _sent(NAMED_BRIDGE % "Sales ${caller_id_name}", channel(name=name))
    arg = dict(executed)["bridge"]
    assert ":_:" not in arg and len(fs.parse_dial_string(fs.chars(arg, "author")).legs) == 1


def test_a_call_supplied_colon_cannot_complete_the_authors_enterprise_separator():
    from flowengine.flows.templates import expand
    from flowengine.quoting import whole
    try:
        whole(expand("user/1000:${x}:user/1001", {"x": "_"}.get))
    except UnsafeValue as exc:
        assert "':_:'" in str(exc)
    else:
        raise AssertionError(":_: from the call was sent")


def test_controls_in_a_caller_id_name_do_not_reach_the_new_legs_headers():
    executed = _sent(NAMED_BRIDGE % "${caller_id_name}", channel(name=b"Bob%0D%0AX-Evil%3A%201"))
    arg = dict(executed)["bridge"]
    assert "\r" not in arg and "\n" not in arg and arg.startswith("{origination_caller_id_name=Bob  X-Evil  1}")


def test_a_dialled_option_cannot_shift_transfers_arguments():
    executed = _sent("""
name: t
start: s
steps:
  s: {transfer: "${destination_number} XML default"}
""", Event.from_plain(b"Event-Name: CHANNEL_DATA\nUnique-ID: u-1\nCaller-Destination-Number: -both\n\n"))
    assert executed == [("hangup", "NORMAL_TEMPORARY_FAILURE")]


def test_the_start_of_an_argument_is_judged_after_the_authors_leading_expansions():
    from flowengine.flows.templates import expand
    from flowengine.quoting import app_arg, word
    for call, check in ((lambda t: app_arg(t, "transfer")), "%[api_hangup_hook=fsctl]1000"), \
                       ((lambda t: word(t, "say")), "^^:en:x"):
        try:
            call(expand("${prefix}${x}", {"x": check}.get))
        except UnsafeValue:
            pass
        else:
            raise AssertionError(f"{check!r} after an expansion FreeSWITCH may empty was sent")


def test_a_deleted_escape_cannot_join_dollar_and_brace_in_sets_second_pass():
    from flowengine.flows.templates import expand
    from flowengine.quoting import app_arg
    from . import freeswitch_model as fs
    for template, values in (("x=$\\${a}{${b}}", {"a": "'", "b": "system touch /tmp/x"}),
                             ("x=\\${a}", {"a": "'${system id}"})):
        try:
            arg = app_arg(expand(template, values.get), "set")
        except UnsafeValue:
            continue
        _, found = fs.expand_passes(fs.chars(arg, "author"), 3, lambda name: None)
        assert not any(e.kind == "api" for e in found), arg


def test_a_returned_value_cannot_add_fields_to_the_step_log_line(caplog):
    from flowengine.flows.flowset import FlowSet
    from flowengine.runtime import FlowRun
    main = flow_from("""
name: main
start: sub
steps:
  sub: {call: {flow: lookup}, next: bye}
  bye: {hangup: NORMAL_CLEARING}
""")
    lookup = flow_from("""
name: lookup
start: r
steps:
  r: {return: "${caller_id_name}"}
""", "flows/lookup.yaml")
    forged = b"ok%20ms%3D0%20call%3Ddead%20flow%3Dbilling%20outcome%3Dpaid"
    with caplog.at_level(logging.INFO, "flowengine.flow"):
        run = FlowRun(main, flows=FlowSet({"main": main, "lookup": lookup}, default=main), channel=channel(name=forged))
        run.start()
    lines = [r.getMessage() for r in caplog.records if "step=sub" in r.getMessage()]
    assert lines and all('outcome="ok ms=0 call=dead flow=billing outcome=paid"' in line for line in lines)


def test_a_caller_number_is_one_field_of_the_call_end_line(caplog):
    from flowengine.server.call_log import log_call_end
    with caplog.at_level(logging.INFO, "flowengine"):
        log_call_end("u-1", channel(b"1001%20outcome%3Dok%20cause%3DNORMAL_CLEARING"), 0.0, "USER_BUSY", None, "error")
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("call end"))
    assert 'caller="1001 outcome=ok cause=NORMAL_CLEARING"' in line and line.endswith("outcome=error")
