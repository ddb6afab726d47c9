"""What a response gives a flow: JSON nested too deeply for the parser is the error
outcome's reason (never a RecursionError out of the step), quickly, and ordinary nesting
and brackets inside strings are read as they are."""

from __future__ import annotations

import json
import time

import pytest

from flowengine.flows.steps.http_answer import Unreadable, saved


def nested(levels: int, inner: object = "x") -> object:
    value = inner
    for i in range(levels):
        value = [value] if i % 2 else {"a": value}
    return value


@pytest.mark.parametrize("body", [b"[" * 500_000 + b"]" * 500_000,          # 1 MB, as a hostile CRM sends
                                  b'{"a":' * 200_000 + b"1" + b"}" * 200_000,
                                  b"[" * 500_000],                             # never closed
                         ids=["arrays", "objects", "unclosed"])
def test_a_deeply_nested_response_is_unreadable_not_a_crash(body):
    started = time.perf_counter()
    with pytest.raises(Unreadable, match="nested too deeply to read"):
        saved(body, {"tier": "a"}, "the response to lookup")
    assert time.perf_counter() - started < 0.05     # the loop is not held while it is refused


def test_ordinary_nesting_and_brackets_in_strings_are_read():
    body = json.dumps({"tier": "[" * 4000, "q": '\\"[[[' + "{" * 300, "a": nested(200)}).encode()
    document = json.loads(body)
    assert saved(body, {"tier": "tier"}, "s") == {"tier": "[" * 4000}
    path = ".".join("a" if isinstance(node, dict) else "0" for node in _walk(document["a"]))
    assert saved(body, {"x": "a." + path}, "s") == {"x": "x"}


def _walk(node):
    while isinstance(node, (dict, list)):
        yield node
        node = node["a"] if isinstance(node, dict) else node[0]


def test_a_lone_surrogate_in_a_json_answer_is_saved_as_the_replacement_character():
    """``"\\ud800"`` is valid JSON for a character UTF-8 cannot carry: kept, every command
    built from the value would fail to encode and end the call."""
    from flowengine.flows.steps.http_answer import saved
    out = saved(b'{"value": "a\\ud800b"}', {"v": "value"}, "the answer")
    assert out["v"] == "a\ufffdb"
    out["v"].encode("utf-8")


def test_an_answer_is_read_as_the_step_needs_it_and_no_more():
    from flowengine.flows.effects import HttpFailure, HttpRequest, HttpResult
    from flowengine.flows.steps.http_answer import ReadResult, SavingRequest, read_answer
    asking = SavingRequest("GET", "http://crm.example/", save=(("tier", "tier"), ("n", "n")))
    body = json.dumps({"tier": "vip", "n": 1.5, "pad": "x" * 40000}).encode()
    read = read_answer(asking, HttpResult(200, body, "application/json"))
    assert isinstance(read, ReadResult) and read.saved == (("tier", "vip"), ("n", "1.5"))
    assert read.body == body[:16384] and read.unreadable == ""
    # a binary answer gives ${http_body} nothing; one that is not JSON says why it is unreadable
    assert read_answer(asking, HttpResult(200, b"\x00" * 100, "audio/wav")).body == b""
    html = read_answer(asking, HttpResult(200, b"<html>", "text/html"))
    assert html.unreadable.startswith("the response is not JSON") and html.body == b"<html>"
    # not a 2xx: nothing to save, nothing read; a failure is handed on as it is
    assert read_answer(asking, HttpResult(500, b"{]", "application/json")).unreadable == ""
    failed = HttpResult.failed(HttpFailure.TIMEOUT, "no complete response within 5 s")
    assert read_answer(asking, failed) is failed
    assert read_answer(HttpRequest("GET", "http://crm.example/"), HttpResult(200, body, "application/json")).saved == ()
