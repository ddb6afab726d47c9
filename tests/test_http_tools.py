"""The http step in the tools: --check, run.py simulate (asked or from a file, secrets
masked), the URL rule as a property, and the scripted uuid_break against the recording."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from urllib.parse import unquote, urlsplit

from flowengine.errors import UnsafeValue
from flowengine.esl import Event, Parser
from flowengine.flows.source import parse_source
from flowengine.flows.validate import check
from flowengine.quoting import data, join, literal
from flowengine.quoting.url import url
from flowengine.testing.scripted import ScriptedFreeSwitch

from .conftest import load

ROOT = Path(__file__).resolve().parent.parent

BASE = """\
name: t
numbers: ["1"]
start: s
steps:
  s:
    http: %s
    next: bye
  bye:
    hangup: NORMAL_CLEARING
"""


def problems(http: str, env: dict | None = None):
    saved = dict(os.environ)
    os.environ.pop("FLOWENGINE_UNSET_TOKEN", None)
    os.environ.update(env or {})
    try:
        _, errors, warnings = check(parse_source(BASE % http, "flows/t.yaml"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return errors, warnings


def test_check_accepts_a_good_step():
    assert problems('{url: "https://crm.example.com/c?p=${caller_id_number}", timeout: 2s, save: {t: a.0.b}}') \
        == ([], [])


def test_check_refuses_call_data_in_the_host_and_other_schemes():
    for http in ('{url: "https://${caller_id_name}.example.com/"}', '{url: "ftp://example.com/"}',
                 '{url: "https://"}'):
        errors, _ = problems(http)
        assert errors and "flows/t.yaml:6:" in errors[0], (http, errors)


def test_check_bounds_methods_timeouts_paths_and_bodies():
    cases = {'{url: "https://x.example/", method: TRACE}': "'TRACE' is not one of",
             '{url: "https://x.example/", timeout: 31s}': "at most 30s",
             '{url: "https://x.example/", save: {v: "a..b"}}': "does not match",
             '{url: "https://x.example/", save: {"1v": "a"}}': "does not match",
             '{url: "https://x.example/", method: POST, json: {a: 1}, body: x}': "give one body",
             '{url: "https://x.example/", retries: 9}': "9 is greater than the maximum of 3",
             '{url: "https://x.example/", headers: {"X-A: b": c}}': "does not match"}
    for http, message in cases.items():
        errors, _ = problems(http)
        assert any(message in e for e in errors), (http, errors)


def test_check_warns_on_a_hold_prompt_that_never_plays():
    http = '{url: "https://x.example/", timeout: 1s, while_waiting: {after: 2s, play: hold.wav}}'
    assert any("the prompt never plays" in w for w in problems(http)[1])


def test_check_warns_on_an_env_variable_this_environment_lacks():
    http = '{url: "https://x.example/", headers: {Authorization: "Bearer ${env.FLOWENGINE_UNSET_TOKEN}"}}'
    assert any("${env.FLOWENGINE_UNSET_TOKEN} is not set" in w for w in problems(http)[1])
    assert problems(http, {"FLOWENGINE_UNSET_TOKEN": "x"})[1] == []


def test_check_warns_on_call_data_in_a_body_under_a_structured_content_type():
    json_body = '{url: "https://x.example/", method: POST, headers: {Content-Type: application/json}, ' \
                'body: \'{"caller": "${caller_id_name}"}\'}'
    warnings = problems(json_body)[1]
    assert any("use json: or form:" in w and "flows/t.yaml:6:" in w for w in warnings), warnings
    for fine in ('{url: "https://x.example/", method: POST, body: "from ${caller_id_name}"}',
                 '{url: "https://x.example/", method: POST, headers: {Content-Type: text/plain}, body: "${caller_id_name}"}',
                 '{url: "https://x.example/", method: POST, headers: {Content-Type: application/json}, '
                 'body: \'{"a": 1}\'}'):
        assert problems(fine) == ([], []), fine


def run_py(*args: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, input=stdin, text=True,
                          capture_output=True, timeout=60, env={**os.environ, **(env or {})})


SIM_FLOW = """\
name: sim
numbers: ["7"]
start: s
steps:
  s:
    http:
      url: "https://crm.example.com/${env.FLOWENGINE_SIM_SECRET}/c?p=${caller_id_number}"
      headers: {X-Token: "${env.FLOWENGINE_SIM_SECRET}"}
      save: {tier: tier}
    on: {ok: vip, timeout: bye}
  vip:
    playback: ivr/vip.wav
    next: bye
  bye:
    hangup: NORMAL_CLEARING
"""


def test_simulate_asks_for_the_answer_and_masks_secrets(tmp_path):
    (tmp_path / "sim.yaml").write_text(SIM_FLOW)
    proc = run_py("simulate", str(tmp_path / "sim.yaml"), "--number", "7", stdin='200 {"tier": "vip"}\n',
                  env={"FLOWENGINE_SIM_SECRET": "hunter2"})
    assert proc.returncode == 0, proc.stderr
    assert "[s] http GET https://crm.example.com/***/c?p=5551234" in proc.stdout
    assert "  -> s: ok" in proc.stdout and "[vip] caller hears: ivr/vip.wav" in proc.stdout
    assert "hunter2" not in proc.stdout + proc.stderr


def test_simulate_reads_answers_from_a_file(tmp_path_factory):
    flows, answers = tmp_path_factory.mktemp("flows"), tmp_path_factory.mktemp("answers") / "answers.yaml"
    (flows / "sim.yaml").write_text(SIM_FLOW)
    answers.write_text('"GET https://crm.example.com/***/*": {timeout: true}\n')
    proc = run_py("simulate", str(flows / "sim.yaml"), "--number", "7", "--http", str(answers),
                  env={"FLOWENGINE_SIM_SECRET": "hunter2"})
    assert proc.returncode == 0, proc.stderr
    assert "  -> s: timeout" in proc.stdout and "?" not in proc.stdout.split("[s] http", 1)[1].split("\n")[1]


HOSTS = st.sampled_from(["crm.example.com", "10.0.0.5:8080", "api.example.org"])
CALL = st.text(st.sampled_from(list("/?#&=@:.%+ \t\r\n${}aZ9-_~")) | st.characters(
    codec="utf-8", exclude_categories=["Cs"]), max_size=20)
AUTHOR_PATHS = st.sampled_from(["/", "/c/", "/c?phone=", "/a/b?x=1&y=", "?q="])


@settings(max_examples=400, deadline=None)
@given(scheme=st.sampled_from(["http", "https"]), host=HOSTS, path=AUTHOR_PATHS, value=CALL, tail=CALL)
def test_call_data_never_changes_the_host_nor_adds_a_part(scheme, host, path, value, tail):
    text = join([literal(f"{scheme}://{host}{path}"), data(value), literal("&z="), data(tail)])
    try:
        out = url(text)
    except UnsafeValue as exc:   # only a dot-segment (test below) is refused here
        assert "dot-segment" in str(exc) and "?" not in path and "." in value + tail, (text, exc)
        return
    from urllib.parse import urlsplit, unquote
    parts = urlsplit(out)
    assert (parts.scheme, parts.netloc) == (scheme, host)
    assert parts.fragment == "" and "#" not in out
    # what the call gave comes back whole from one percent-encoded run, with no / ? & = # of its own
    encoded_value = out[len(f"{scheme}://{host}{path}"):].rsplit("&z=", 1)[0]
    assert unquote(encoded_value) == value
    assert not set(encoded_value) & set("/?&=# \t\r\n")


@pytest.mark.parametrize("author, value", [
    ("https://crm.example.com/api/customers/%s/notes", ".."),
    ("https://crm.example.com/api/customers/%s/notes", "."),
    ("https://crm.example.com/api/customers/%s", ".."),
    ("https://crm.example.com/api/customers/%s?x=1", ".."),
    ("https://crm.example.com/api/customers/%%2E%s/notes", "."),     # the flow's %2E is a dot to a server
    ("https://crm.example.com/api/customers/%%2e%s", "."),
    ("https://crm.example.com/api/%s/notes", "../admin"),            # %2F and %5C decoded first by some servers
    ("https://crm.example.com/api/%s/notes", "..\\admin"),
    ("https://crm.example.com/api/%%2%s/notes", "E."),               # the call would finish the flow's escape
    ("https://crm.example.com/api/%%%s/notes", "2E"),
])
def test_call_data_cannot_make_a_dot_segment(author, value):
    before, after = author.split("%s")
    with pytest.raises(UnsafeValue, match="dot-segment|escape"):
        url(join([literal(before.replace("%%", "%")), data(value), literal(after.replace("%%", "%"))]))


@pytest.mark.parametrize("author, value, sent", [
    ("https://x.example/c/%s/n", "...", "https://x.example/c/.../n"),     # not a dot-segment
    ("https://x.example/c/%s/n", "a..b", "https://x.example/c/a..b/n"),
    ("https://x.example/c/v%s/n", "1.5", "https://x.example/c/v1.5/n"),
    ("https://x.example/c/.%s/n", "%2E", "https://x.example/c/.%252E/n"),  # the call's % stays a %
    ("https://x.example/c?q=%s", "..", "https://x.example/c?q=.."),        # the query has no segments
])
def test_dots_that_are_no_dot_segment_are_sent(author, value, sent):
    before, after = author.split("%s")
    assert url(join([literal(before), data(value), literal(after)])) == sent


DOTTY = st.text(st.sampled_from(list("./\\%2Eea?")), max_size=6)
PREFIXES = st.sampled_from(["/", "/c/", "/c/.", "/c/%2", "/c/%2E", "/c/%2e", "/c/%", "/c/a", "/c?q=", "/c?q=%2"])
SUFFIXES = st.sampled_from(["", "/x", ".", "%2E", "/.x", "?q=.", "/x?y=.."])


@settings(max_examples=600, deadline=None)
@given(prefix=PREFIXES, value=DOTTY, suffix=SUFFIXES)
def test_call_data_never_produces_a_dot_segment(prefix, value, suffix):
    """What a server sees: each segment of the path percent-decoded and cut at / and \\ (some
    servers decode %2F and %5C before removing dot-segments, RFC 3986 5.2.4). With any call
    data in the URL, no piece of it is . or .. (the flows here write none of their own)."""
    text = join([literal("https://crm.example.com" + prefix), data(value), literal(suffix)])
    incomplete_escape = bool(value) and (prefix.endswith("%") or prefix.endswith("%2"))
    # the path as the server reads it: the call's own % a percent sign, the rest decoded
    path = prefix.split("?")[0] if "?" in prefix else prefix + value.replace("%", "%25") + suffix.split("?")[0]
    climbs = bool(value) and bool({".", ".."} & set(unquote(path).replace("\\", "/").split("/")))
    try:
        out = url(text)
    except UnsafeValue:
        # refused for a reason only: the call would finish the flow's escape, or make a dot-segment
        assert incomplete_escape or climbs, (text,)
        return
    assert not incomplete_escape and not climbs, (text, out)
    if value:
        for segment in urlsplit(out).path.split("/"):
            pieces = unquote(segment).replace("\\", "/").split("/")
            assert not {".", ".."} & set(pieces), (text, out)


@settings(max_examples=300, deadline=None)
@given(host=HOSTS, value=CALL)
def test_call_data_next_to_the_host_is_refused_unless_it_cannot_reach_it(host, value):
    text = join([literal(f"https://{host}"), data(value), literal("/x")])
    try:
        out = url(text)
    except UnsafeValue:
        assert value        # only a value can be refused; an empty one leaves the author's URL
        return
    assert value == "" and out == f"https://{host}/x"


def test_the_scripted_break_reports_what_the_recording_does():
    """playback_broken_by_api: a playback stopped by uuid_break completes FILE PLAYED."""
    recorded = next(m for m in Parser().feed(load("playback_broken_by_api").inbound())
                    if isinstance(m, Event) and m.name == "CHANNEL_EXECUTE_COMPLETE" and m.application == "playback")
    fs = ScriptedFreeSwitch(destination="1", prompt_seconds=10)
    fs.http_due_in = 1.0
    fs.receive(b"connect\n\n")
    started = fs.receive(b"sendmsg\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: "
                         b"ivr/menu.wav\nevent-lock: true\nEvent-UUID: k1\n\n")
    events = [m for m in Parser().feed(b"".join(c for _, c in started)) if isinstance(m, Event)]
    assert [e.name for e in events] == ["CHANNEL_EXECUTE"]            # it plays on
    broken = fs.receive(f"api uuid_break {fs.uuid}\n\n".encode())
    messages = Parser().feed(b"".join(c for _, c in broken))
    assert messages[0].body == "+OK\n"
    done = messages[1]
    assert (done.name, done.application, done.application_response) == \
        (recorded.name, recorded.application, recorded.application_response) == \
        ("CHANNEL_EXECUTE_COMPLETE", "playback", "FILE PLAYED")
    assert done.get("Application-UUID") == "k1"
