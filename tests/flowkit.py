"""Drive a FlowRun with a scripted FreeSWITCH whose answers are shaped like the recordings."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

from flowengine.esl import Event, Parser
from flowengine.flows import load_flows
from flowengine.runtime import FlowRun
from flowengine.flows.effects import HttpRequest, HttpResult
from flowengine.runtime.interpreter import Execute, Exit
from flowengine.flows.source import parse_source
from flowengine.flows.validate import check

from .conftest import load

CHANNEL = Parser().feed(load("answer_playback_hangup").chunks("in")[0])[0].channel  # 5551234 "Alice" -> 1000
UUID = CHANNEL.unique_id
MONDAY_MORNING = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)   # 10:30 in Berlin
SUNDAY = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


class Gone:
    def __init__(self, cause: str = "NORMAL_CLEARING") -> None:
        self.cause = cause


def complete(app: str, arg: str | None = None, response: str = "_none_", **variables: str) -> Event:
    headers = [("Event-Name", "CHANNEL_EXECUTE_COMPLETE"), ("Unique-ID", UUID), ("Application", app),
               ("Application-Data", arg or ""), ("Application-Response", response)]
    headers += [(f"variable_{k}", v) for k, v in variables.items()]
    text = "".join(f"{k}: {quote(str(v), safe='')}\n" for k, v in headers) + "\n"
    return Event.from_plain(text.encode())


def recorded(fixture: str, app: str, nth: int = 0) -> Event:
    """The nth CHANNEL_EXECUTE_COMPLETE of ``app`` in a recording."""
    events = [m for m in Parser().feed(load(fixture).inbound())
              if isinstance(m, Event) and m.name == "CHANNEL_EXECUTE_COMPLETE" and m.application == app]
    return events[nth]


def flow_from(text: str, name: str = "flows/test.yaml"):
    flow, errors, _ = check(parse_source(text, name))
    assert not errors, errors
    return flow


def play(flow, answers, *, clock=MONDAY_MORNING, flows=None, channel=CHANNEL, limit=200) -> FlowRun:
    """Run ``flow``; ``answers(execute)`` returns the completion Event or a Gone."""
    run = FlowRun(flow, flows=flows, channel=channel, clock=lambda: clock)
    command = run.start()
    for _ in range(limit):
        if command is None or isinstance(command, Exit):
            return run
        assert isinstance(command, (Execute, HttpRequest))
        answer = answers(command)
        if isinstance(answer, Gone):
            run.caller_gone(answer.cause)
            return run
        command = run.resume(answer)
    raise AssertionError("the flow did not end")


def pagd(var: str, digits: str | None = None, invalid: str | None = None) -> Event:
    """A play_and_get_digits completion in one of the three shapes the recordings show:
    digits collected (pagd_digit), every try invalid (pagd_all_invalid: read_result is
    still success, only <var>_invalid is set), nothing pressed (pagd_timeout: failure)."""
    variables = {}
    if invalid is not None:
        variables[f"{var}_invalid"] = invalid
    if digits is not None:
        variables[var] = digits
    variables["read_result"] = "failure" if digits is None and invalid is None else "success"
    return complete("play_and_get_digits", None, "_none_", **variables)


def script(*answers):
    """Answers in order; an entry may be an Event, a Gone, or a callable of the Execute."""
    queue = list(answers)

    def answer(command: Execute | HttpRequest):
        if isinstance(command, HttpRequest):   # a server that knows nothing: 404
            return queue.pop(0) if queue and isinstance(queue[0], HttpResult) else HttpResult(404, b"", "text/plain")
        if command.app in ("set", "export"):
            return complete(command.app, command.arg)
        if command.app == "hangup":
            return Gone(command.arg or "NORMAL_CLEARING")
        if not queue:
            return complete(command.app, command.arg,
                            "FILE PLAYED" if command.app == "playback" else "_none_")
        item = queue.pop(0)
        return item(command) if callable(item) and not isinstance(item, (Event, Gone)) else item
    return answer


def load_dir(path):
    return load_flows(path)
