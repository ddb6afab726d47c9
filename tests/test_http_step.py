"""The http step through the call the server runs (FlowCall), with the case's scripted
answers: outcomes, save, variables, the hold prompt stopped by uuid_break, a hangup during
a request, secrets, and that a response's values stay data wherever they land."""

from __future__ import annotations

import textwrap

import pytest

from flowengine.flows import load_flows
from flowengine.testing.cases import run_test_file

FLOW = """\
name: crm
numbers: ["3000"]
start: answer
on_error: oops
steps:
  answer:
    answer: {}
    next: lookup
  lookup:
    http:
      url: "https://crm.example.com/customers?phone=${caller_id_number}"
      headers: {Authorization: "Bearer ${env.FLOWENGINE_TEST_TOKEN}"}
      timeout: 2s
      save: {tier: customer.tier, name: customer.name}
      %(hold)s
    on: {ok: routed, "404": unknown, "/^5/": sorry, failed: sorry, timeout: sorry, error: sorry}
  routed:
    when:
      - if: {var: tier, equals: vip}
        goto: vip
    else: normal
  vip:
    playback: ivr/vip.wav
    next: tell
  normal:
    playback: ivr/normal.wav
    next: tell
  unknown:
    playback: ivr/unknown.wav
    next: tell
  sorry:
    playback: ivr/sorry.wav
    next: bye
  tell:
    http:
      method: POST
      url: "https://crm.example.com/calls"
      json: {caller: "${caller_id_number}", tier: "${tier}", name: "${name}"}
    next: bye
  oops:
    hangup: NORMAL_TEMPORARY_FAILURE
  bye:
    hangup: NORMAL_CLEARING
"""


def run_cases(tmp_path, cases: str, hold: str = "", flow: str = FLOW, monkeypatch=None):
    (tmp_path / "crm.yaml").write_text(flow % {"hold": hold})
    (tmp_path / "crm.test.yaml").write_text("cases:\n" + textwrap.indent(textwrap.dedent(cases), "  "))
    return run_test_file(tmp_path / "crm.test.yaml")


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("FLOWENGINE_TEST_TOKEN", "s3cret-token")


def only(results):
    assert len(results) == 1
    return results[0]


VIP = '''\
- name: a VIP
  call: {destination: "3000", caller: "5551234"}
  http:
    "GET https://crm.example.com/customers?phone=5551234": {status: 200, json: {customer: {tier: vip, name: Ann}}}
    "POST https://crm.example.com/calls": {status: 204}
  expect:
    steps: [answer, lookup, routed, vip, tell, bye]
    vars: {tier: vip, name: Ann, http_status: "204"}
    requests: ["GET https://crm.example.com/customers?phone=5551234", "POST https://crm.example.com/calls"]
    outcomes: {lookup: ok, tell: ok}
'''


def test_a_vip_is_routed_and_the_crm_told(tmp_path):
    result = only(run_cases(tmp_path, VIP))
    assert result.passed, result.problems


def test_status_outcomes_and_failures(tmp_path):
    cases = '''\
    - name: unknown
      call: {destination: "3000"}
      http: {"GET https://crm.example.com/customers*": {status: 404, body: nobody}, "POST *": {}}
      expect: {outcomes: {lookup: "404"}, steps: [answer, lookup, unknown, tell, bye]}
    - name: a 503 by pattern
      call: {destination: "3000"}
      http: {"GET *": {status: 503}}
      expect: {outcomes: {lookup: "/^5/"}}
    - name: another status
      call: {destination: "3000"}
      http: {"GET *": {status: 302}}
      expect: {outcomes: {lookup: failed}}
    - name: slow
      call: {destination: "3000"}
      http: {"GET *": {delay: 3s}}
      expect: {outcomes: {lookup: timeout}, vars: {http_status: ""}}
    - name: down
      call: {destination: "3000"}
      http: {"GET *": {error: connection refused}}
      expect: {outcomes: {lookup: error}, vars: {http_error: connection refused}}
    - name: not JSON
      call: {destination: "3000"}
      http: {"GET *": {status: 200, body: "<html>"}}
      expect: {outcomes: {lookup: error}}
    - name: a path not in the JSON
      call: {destination: "3000"}
      http: {"GET *": {status: 200, json: {customer: {}}}}
      expect: {outcomes: {lookup: error}}
    '''
    results = run_cases(tmp_path, cases)
    assert [r.problems for r in results] == [[]] * 7


def test_an_unscripted_request_fails_the_case_naming_it(tmp_path):
    result = only(run_cases(tmp_path, '''\
    - name: no answers
      call: {destination: "3000", caller: "5551234"}
      http: {"GET https://other.example.com/*": {}}
      expect: {result: hangup}
    '''))
    assert not result.passed
    assert "step 'lookup' sent GET https://crm.example.com/customers?phone=5551234" in result.problems[0]


def test_the_hold_prompt_plays_and_is_broken_when_the_answer_comes(tmp_path):
    hold = "while_waiting: {after: 800ms, play: ivr/please-hold.wav}"
    results = run_cases(tmp_path, '''\
    - name: slow CRM
      call: {destination: "3000"}
      prompt_seconds: 5
      http:
        "GET *": {status: 200, json: {customer: {tier: gold, name: Bo}}, delay: 1.5s}
        "POST *": {status: 200}
      expect:
        executed: [answer, playback ivr/please-hold.wav, playback ivr/normal.wav, hangup NORMAL_CLEARING]
        outcomes: {lookup: ok}
    - name: fast CRM
      call: {destination: "3000"}
      http:
        "GET *": {status: 200, json: {customer: {tier: gold, name: Bo}}, delay: 0.5s}
        "POST *": {status: 200}
      expect:
        executed: [answer, playback ivr/normal.wav, hangup NORMAL_CLEARING]
    ''', hold=hold)
    assert [r.problems for r in results] == [[], []]


def test_the_hold_prompt_is_stopped_with_uuid_break_over_the_socket(tmp_path):
    from flowengine.call import Timeouts
    from flowengine.call.flow_call import FlowCall
    from flowengine.testing.memory import converse
    from flowengine.testing.scripted import ScriptedFreeSwitch

    (tmp_path / "crm.yaml").write_text(FLOW % {"hold": "while_waiting: {after: 800ms, play: ivr/please-hold.wav}"})
    flows = load_flows(tmp_path)
    fs = ScriptedFreeSwitch(destination="3000", prompt_seconds=5, http={
        "GET *": {"json": {"customer": {"tier": "vip", "name": "A"}}, "delay": "1.5s"}, "POST *": {}})
    sent: list[bytes] = []
    receive = fs.receive
    fs.receive = lambda data: (sent.append(data), receive(data))[1]
    call = FlowCall(lambda: flows, Timeouts(), run_options={"trace": True})
    converse(call, fs)
    wire = b"".join(sent)
    hold = wire.index(b"ivr/please-hold.wav")     # the argument, in a header or in the body
    brk = wire.index(f"api uuid_break {fs.uuid}\n\n".encode())
    after = wire.index(b"ivr/vip.wav")
    assert hold < brk < after
    assert call.run.outcomes[1] == ("lookup", "ok")


def test_a_hangup_during_the_request_ends_the_call_at_once(tmp_path):
    results = run_cases(tmp_path, '''\
    - name: caller leaves
      call: {destination: "3000"}
      caller: [{hangup: true, at: lookup}]
      http: {"GET *": {status: 200, json: {customer: {tier: vip, name: A}}, delay: 1s}}
      expect: {steps: [answer, lookup], result: gone, executed: [answer]}
    ''')
    assert only(results).problems == []
    run = results[0].run
    assert run.outcomes[-1] == ("lookup", "hangup:NORMAL_CLEARING")
    assert "tier" not in run.vars   # the response was dropped


def test_a_secret_never_shows(tmp_path, caplog):
    caplog.set_level("DEBUG")
    result = only(run_cases(tmp_path, VIP))
    assert result.passed
    assert all("s3cret-token" not in r for r in result.run.requests)
    assert all("s3cret-token" not in r.getMessage() for r in caplog.records)


def test_a_missing_env_variable_fails_the_step_without_its_value(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("FLOWENGINE_TEST_TOKEN")
    result = only(run_cases(tmp_path, '''\
    - name: no token
      call: {destination: "3000"}
      expect: {steps: [answer, lookup, oops], cause: NORMAL_TEMPORARY_FAILURE}
    '''))
    assert result.problems == []
    assert any("FLOWENGINE_TEST_TOKEN is not set" in r.getMessage() for r in caplog.records)


HOSTILE_FLOW = """\
name: hostile
numbers: ["3001"]
start: lookup
on_error: oops
steps:
  lookup:
    http: {url: "https://crm.example.com/c", save: {x: value}}
    on: {ok: use}
  use:
    %(use)s
    next: bye
  oops:
    hangup: NORMAL_TEMPORARY_FAILURE
  bye:
    hangup: NORMAL_CLEARING
"""


@pytest.mark.parametrize("use, value, sent", [
    # set expands its value again: the response's ${...} reaches FreeSWITCH broken up, as text
    ('set: {greeting: "hello ${x}"}', "${system id}", "greeting=hello $ {system id}"),
    ('set: {who: "${x}"}', "${caller_id_number}", "who=$ {caller_id_number}"),
    # a second target, a path out of the folder: refused before a byte, naming the source
    ('bridge: "user/${x}"', "1001,user/evil", "the value of the response to lookup contains ','"),
    ("playback: ivr/${x}.wav", "../../etc/passwd", "the value of the response to lookup climbs out"),
])
def test_a_response_value_stays_data_wherever_it_lands(tmp_path, use, value, sent, caplog):
    import json
    (tmp_path / "hostile.yaml").write_text(HOSTILE_FLOW % {"use": use})
    (tmp_path / "h.test.yaml").write_text("cases:\n  - name: hostile\n    call: {destination: '3001'}\n"
                                          f"    http: {{'GET *': {{json: {json.dumps({'value': value})}}}}}\n"
                                          "    expect: {includes: {steps: [lookup]}}\n")
    run = only(run_test_file(tmp_path / "h.test.yaml")).run
    assert run.vars["x"] == value and run.vars["x"].data   # marked as the call's, whole
    if sent.startswith("the value"):
        assert run.outcomes[-1] == ("oops", "hangup")
        assert not any(app in ("bridge", "playback") for app, _ in run.executed)
        assert any(sent in r.getMessage() for r in caplog.records)
    else:
        assert ("set", sent) in run.executed
        assert run.lookup("x") == value      # read back unexpanded: a response never names other values


def test_a_refusal_never_shows_a_secret(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("FLOWENGINE_TEST_TOKEN", "k3y\r\nX-Evil: 1")   # a broken secret: refused
    result = only(run_cases(tmp_path, '''\
    - name: refused
      call: {destination: "3000"}
      expect: {steps: [answer, lookup, oops]}
    '''))
    assert result.problems == []
    refusal = next(r.getMessage() for r in caplog.records if "UnsafeValue" in r.getMessage())
    assert "header Authorization" in refusal and "k3y" not in refusal


BODY_FLOW = """\
name: body
numbers: ["3002"]
start: tell
on_error: oops
steps:
  tell:
    http:
      method: POST
      url: "https://crm.example.com/calls"
      %(headers)s
      body: '%(body)s'
    next: bye
  oops:
    hangup: NORMAL_TEMPORARY_FAILURE
  bye:
    hangup: NORMAL_CLEARING
"""


def body_request(headers: str, body: str):
    """Run the flow on a call from "Alice": the request it makes, or None, and its log."""
    from flowengine.flows.effects import HttpRequest, HttpResult
    from .flowkit import flow_from, play, script
    sent = []

    def answers(command):
        if isinstance(command, HttpRequest):
            sent.append(command)
            return HttpResult(204, b"", "")
        return script()(command)
    run = play(flow_from(BODY_FLOW % {"headers": headers, "body": body}), answers)
    return (sent[0] if sent else None), run


@pytest.mark.parametrize("headers", [
    "headers: {Content-Type: application/json}",
    "headers: {content-type: application/xml; charset=utf-8}",
    "headers: {Content-Type: application/x-www-form-urlencoded}",
    "headers: {Content-Type: text/csv}",
])
def test_call_data_in_a_structured_text_body_is_refused(headers, caplog):
    # {"caller": "${caller_id_name}"}: a name  x", "role": "admin  would add a field
    request, run = body_request(headers, '{"caller": "${caller_id_name}", "role": "caller"}')
    assert request is None                                    # nothing sent
    assert run.outcomes[-1] == ("oops", "hangup")
    refusal = next(r.getMessage() for r in caplog.records if "UnsafeValue" in r.getMessage())
    assert "caller_id_name" in refusal and "use json: or form:" in refusal


@pytest.mark.parametrize("headers, body, sent, content_type", [
    ("", "hello ${caller_id_name}", b"hello Alice", "text/plain; charset=utf-8"),
    ("headers: {Content-Type: Text/Plain; charset=utf-8}", "hi ${caller_id_name}", b"hi Alice",
     "Text/Plain; charset=utf-8"),
    ("headers: {Content-Type: application/json}", '{"a": 1}', b'{"a": 1}', "application/json"),  # no call data
])
def test_a_text_body_or_one_without_call_data_is_sent(headers, body, sent, content_type):
    request, _ = body_request(headers, body)
    assert request is not None and request.body == sent
    assert dict(request.headers)["Content-Type"] == content_type


def test_a_deeply_nested_response_takes_the_error_outcome(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    result = only(run_cases(tmp_path, f'''\
    - name: a hostile CRM
      call: {{destination: "3000"}}
      http: {{"GET *": {{status: 200, body: "{deep}", content_type: application/json}}}}
      expect: {{steps: [answer, lookup, sorry, bye], outcomes: {{lookup: error}}}}
    '''))
    assert result.problems == []
    assert "nested too deeply to read" in result.run.vars["http_error"]
