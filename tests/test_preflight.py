"""Preflight: what the flows need, asked of the FreeSWITCH host that runs them.

The planner against the answers the recorded host gave (api_capabilities), the server's
driver over a call's own socket against the scripted host, the recorded failures the
scripted host plays (record_missing_directory, language_missing), and ``run.py preflight``
as a process against an inbound event socket on loopback.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flowengine.call import Timeouts
from flowengine.call.flow_call import FlowCall
from flowengine.esl import Event, Parser
from flowengine.flows import load_flows
from flowengine.flows.source import parse_source
from flowengine.flows.steps import NeedKind
from flowengine.flows.validate import check
from flowengine.flows.flowset import FlowSet
from flowengine.preflight.hosts import Hosts
from flowengine.preflight.needs import flow_needs, set_needs
from flowengine.preflight.plan import MAX_QUERIES, Plan
from flowengine.testing.host import Host
from flowengine.testing.memory import converse
from flowengine.testing.scripted import ScriptedFreeSwitch

from .conftest import load
from .inbound_freeswitch import InboundFreeSwitch

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/usr/share/freeswitch/sounds/en/us/callie"

CLINIC = """\
name: clinic
numbers: ["3000"]
start: hello
steps:
  hello: {answer: {}, next: menu}
  menu:
    menu:
      prompt: [clinic/welcome.wav, clinic/menu.wav]
      invalid: ivr/ivr-that_was_an_invalid_entry.wav
      choices: {"1": price, "2": message}
    on: {exhausted: bye}
  price: {say: {text: 42, type: number, language: es}, next: lang}
  lang: {playback: "clinic/${lang}/closed.wav", next: bye}
  message: {record: {file: "/var/spool/clinic/${uuid}.wav"}, on: {recorded: bye, empty: bye}}
  conf: {execute: {app: conference, arg: "staff@default"}, next: bye}
  beep: {playback: "tone_stream://%(500,0,800)", next: bye}
  bye: {playback: ivr/ivr-that_was_an_invalid_entry.wav, next: end}
  end: {hangup: NORMAL_CLEARING}
"""


def clinic(tmp_path=None) -> FlowSet:
    source = parse_source(CLINIC, "flows/clinic.yaml")
    flow, errors, _ = check(source)
    assert flow is not None and not errors, errors
    flowset = FlowSet(flows={"clinic": flow}, digest="d1")
    flowset._exact["3000"] = flow
    return flowset


def recorded_answers() -> dict[str, str]:
    """What the recorded host answered to each api line (api_capabilities)."""
    out, answers = None, {}
    for record in load("api_capabilities").records:
        if record.dir == "out":
            out = record.data.decode()
        elif out and out.startswith("api "):
            (message,) = Parser().feed(record.data)
            answers[out.strip()[4:]] = message.body
            out = None
    return answers


# -- what the kinds declare -------------------------------------------------------------
def test_each_kind_declares_what_a_step_needs_with_its_place_in_the_file():
    needs = {(n.need.kind, n.need.value): n.where for n in flow_needs(clinic().flows["clinic"])}
    assert needs[(NeedKind.PROMPT, "clinic/welcome.wav")] == "flows/clinic.yaml:8:16"
    assert needs[(NeedKind.PROMPT, "clinic/menu.wav")] == "flows/clinic.yaml:8:36"
    assert needs[(NeedKind.SAY_LANGUAGE, "es")] == "flows/clinic.yaml:12:41"
    assert needs[(NeedKind.DIRECTORY, "/var/spool/clinic")] == "flows/clinic.yaml:14:22"
    assert needs[(NeedKind.APPLICATION, "conference")] == "flows/clinic.yaml:15:20"
    assert (NeedKind.PROMPT, "ivr/ivr-that_was_an_invalid_entry.wav") in needs


# -- the planner, on the recorded answers -------------------------------------------------
def test_the_recorded_host_answers_settle_each_kind_of_need():
    answers = recorded_answers()
    assert answers["module_exists mod_say_es"] == "false" and answers["show say"].startswith("type,name,ikey")
    plan = Plan(set_needs(clinic()), PREFIX)
    asked = []
    while not plan.done:
        for query in plan.take():
            asked.append(query)
            if query.startswith("file_exists"):
                # the recorded host has what the recording found there, and nothing under clinic/
                plan.answered(query, "false" if f"{PREFIX}/clinic" in query else "true")
            else:
                plan.answered(query, answers[query])
    assert asked.count("show say") == 1 and asked.count("show application") == 1
    assert asked.count(f"file_exists {PREFIX}/ivr/ivr-that_was_an_invalid_entry.wav") == 1   # asked once for two steps
    assert f"file_exists {PREFIX}/clinic/8000/welcome.wav" in asked            # not found: its rate folders
    assert f"file_exists {PREFIX}/ivr/8000/ivr-that_was_an_invalid_entry.wav" not in asked
    assert f"file_exists {PREFIX}/clinic" in asked            # clinic/${lang}/…: the folder the author wrote
    assert "file_exists /var/spool/clinic" in asked
    assert not any("tone_stream" in q or "${" in q for q in asked)
    lines = [p.line("vm") for p in plan.problems()]
    assert lines[0] == ("flows/clinic.yaml:8:16: step 'menu': prompt 'clinic/welcome.wav' is not on the host "
                        f"({PREFIX}/clinic/welcome.wav, nor in its 8000/16000/32000/48000 folders; api file_exists): "
                        "playback reports FILE NOT FOUND and the caller hears nothing (FreeSWITCH host vm)")
    kinds = [p.kind for p in plan.problems()]
    assert kinds.count(NeedKind.PROMPT) == 3          # welcome, menu, and the folder of clinic/${lang}/
    assert any("say language 'es' has no say module on the host (api show say lists: en)" in line
               for line in lines)
    assert NeedKind.APPLICATION not in kinds and NeedKind.DIRECTORY not in kinds   # conference: recorded


def test_a_missing_record_folder_and_application_are_problems_and_the_unanswered_are_not():
    plan = Plan(set_needs(clinic()), PREFIX)
    while not plan.done:
        for query in plan.take():
            if query == "show application":
                plan.answered(query, "name,description,syntax,ikey\nanswer,Answer,,mod_dptools\n\n1 total.\n")
            elif query == "file_exists /var/spool/clinic":
                plan.answered(query, "false")
            elif query.startswith("file_exists"):
                plan.answered(query, "true")
            else:
                plan.answered(query, None)      # no answer came (asked once more, then given up)
    problems = {p.kind: p for p in plan.problems()}
    assert set(problems) == {NeedKind.DIRECTORY, NeedKind.APPLICATION}
    assert "hangs the caller up (DESTINATION_OUT_OF_ORDER)" in problems[NeedKind.DIRECTORY].message
    assert problems[NeedKind.APPLICATION].where == "flows/clinic.yaml:15:20"
    assert [loc.need.value for loc in plan.unanswered()] == ["es"]


def test_relative_prompts_need_a_sound_prefix_and_questions_are_capped():
    plan = Plan(set_needs(clinic()), None)
    assert all(not q.startswith("file_exists clinic") for q in plan.take(100))
    assert any(why.startswith("a relative path") for _, why in plan.skipped)
    assert Plan(set_needs(clinic()), "/usr/${evil}").sound_prefix is None       # never one FreeSWITCH expands
    many = "\n".join(f"  p{i}: {{playback: a/{i}.wav, next: p{i + 1}}}" for i in range(MAX_QUERIES + 10))
    source = parse_source(f"name: big\nnumbers: ['1']\nstart: p0\nsteps:\n{many}\n  p{MAX_QUERIES + 10}: "
                          "{hangup: NORMAL_CLEARING}\n", "big.yaml")
    flow, errors, _ = check(source)
    assert not errors
    plan = Plan(set_needs(FlowSet(flows={"big": flow})), PREFIX)
    taken = []
    while True:
        batch = plan.take()
        if not batch:
            break
        assert len(batch) <= 16
        taken += batch
        for query in batch:
            plan.answered(query, "true")
    assert len(taken) == MAX_QUERIES and plan.over_cap == 10 and plan.done


# -- what is kept of an answer: whoever may connect gives it -------------------------------
MiB = 1024 * 1024
APPLICATIONS_HEAD = "name,description,syntax,ikey\n"


def test_an_answer_past_its_cap_settles_nothing_and_no_byte_of_it_is_kept():
    """A peer posing as FreeSWITCH answered every file_exists with 16 MiB (kept whole, per
    Core-UUID: 2 peers x 4 of them took 42 -> 219 MB) and show application with 900,000
    names (a frozenset of them, 0.77 s to build). Now each is read no further than its
    cap: the needs it would settle are not checkable, no problem, nothing refused."""
    import tracemalloc
    names = APPLICATIONS_HEAD + "".join(f"a{i:07d},,,mod_x\n" for i in range(900_000)) + "\n0 total.\n"
    plan = Plan(set_needs(clinic()), PREFIX)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        while not plan.done:
            for query in plan.take():
                plan.answered(query, names if query.startswith("show") else "t" + " " * (16 * MiB))
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 256 * 1024, kept
    assert plan.problems() == [] and plan.applications() is None
    assert len(plan.unanswered()) == len(plan.checks)


def test_a_list_is_believed_only_within_its_caps():
    from flowengine.preflight.plan import MAX_LIST_LINES, MAX_NAME_CHARS, MAX_NAMES, read_list
    assert read_list(APPLICATIONS_HEAD + "answer,Answer,,mod_dptools\n\n1 total.\n", "application") == {"answer"}
    many = APPLICATIONS_HEAD + "".join(f"a{i},,,m\n" for i in range(MAX_NAMES + 1))
    assert len(many) < MiB and read_list(many, "application") is None
    assert read_list(APPLICATIONS_HEAD + "a" * (MAX_NAME_CHARS + 1) + ",,,m\n", "application") is None
    assert read_list(APPLICATIONS_HEAD + "\n" * (MAX_LIST_LINES + 1), "application") is None
    assert read_list("type,name,ikey\nsay,en,mod_say_en\n" + " " * MiB, "say") is None
    assert read_list("type,name,ikey\nsay,en,mod_say_en\n\n1 total.\n", "say") == {"en"}


def test_a_list_past_its_cap_makes_no_application_missing():
    """5,000 names in 50 KB: not believed, so nothing is missing (and hosts.has refuses
    nothing: it refuses only what a believed list leaves out)."""
    plan = Plan(set_needs(clinic()), PREFIX)
    while not plan.done:
        for query in plan.take():
            plan.answered(query, APPLICATIONS_HEAD + "".join(f"a{i},,,m\n" for i in range(5000))
                          if query == "show application" else "true")
    assert plan.applications() is None and not [p for p in plan.problems() if p.kind is NeedKind.APPLICATION]


# -- the server's driver: over the call's own socket ---------------------------------------
class Tap(ScriptedFreeSwitch):
    """The scripted host, keeping each write the engine made."""

    def __init__(self, writes: list, **kw) -> None:
        super().__init__(**kw)
        self.writes = writes

    def receive(self, data):
        self.writes.append(data)
        return super().receive(data)


def call(flows, hosts, host=None, writes=None, **kw):
    writes = [] if writes is None else writes
    peer = Tap(writes, destination="3000", host=host or Host(), uuid=None, actions=[{"press": "1"}], **kw)
    flow_call = FlowCall(lambda: flows, Timeouts(), run_options={"trace": True}, hosts=hosts)
    converse(flow_call, peer)
    return flow_call, writes


def test_the_first_call_from_a_host_asks_after_its_first_step_and_is_not_held_back():
    flows = clinic()
    reports = []
    hosts = Hosts(preflight=True, on_report=reports.append)
    host = Host(missing_directories={"/var/spool/clinic"}, missing_files={"clinic/menu.wav"})
    first, writes = call(flows, hosts, host)
    opening = next(w for w in writes if b"execute-app-name: answer" in w)
    assert opening.index(b"execute-app-name: answer") < opening.index(b"api file_exists")
    assert first.run.visited[:3] == ["hello", "menu", "price"] and first.run.result == "hangup"
    wire = b"".join(writes)
    assert wire.count(b"api ") == len(set(re.findall(rb"api [^\n]+", wire)))      # nothing asked twice
    (report,) = reports
    assert report.host == "vm" and report.digest == "d1"
    assert sorted((p.kind.value, p.value) for p in report.problems) == [
        ("directory", "/var/spool/clinic"), ("prompt", "clinic/menu.wav"), ("say_language", "es")]
    again, writes2 = call(flows, hosts, host)
    assert b"api " not in b"".join(writes2) and len(reports) == 1          # once per host
    reloaded = clinic()
    reloaded.digest = "d2"
    call(reloaded, hosts, host)
    assert len(reports) == 2 and reports[1].digest == "d2"                   # and again after a reload
    assert [r.digest for r in hosts.reports()] == ["d2"]


def test_what_preflight_costs_the_first_call():
    """The figure the docs give (bench/preflight_cost.py): the questions and their bytes,
    and routing up to the first command with and without preflight."""
    sys.path.insert(0, str(ROOT / "bench"))
    from preflight_cost import measure
    cost = measure(rounds=5)
    on, off = cost[True], cost[False]
    assert (off["questions"], off["written"], off["read"]) == (0, 0, 0)
    assert on["questions"] == 36 and on["writes"] == 3 and on["written"] > 0 and on["read"] > 0
    assert on["result"] == off["result"] == "hangup"        # the call itself goes the same way
    assert on["ms"] < 50                                      # planning once per host and flow set


def test_an_application_the_host_lacks_is_known_before_the_flow_reaches_it():
    prompts = "\n".join(f"  p{i}: {{playback: a/{i}.wav, next: p{i + 1}}}" for i in range(20))
    source = parse_source("name: conf\nnumbers: ['3000']\nstart: hello\nsteps:\n"
                          "  hello: {answer: {}, next: conf}\n"
                          "  conf: {execute: {app: conference, arg: staff@default}, next: p0}\n"
                          f"{prompts}\n  p20: {{hangup: NORMAL_CLEARING}}\n", "flows/conf.yaml")
    flow, errors, _ = check(source)
    assert not errors, errors
    flows = FlowSet(flows={"conf": flow}, digest="c")
    flows._exact["3000"] = flow
    reports = []
    first, writes = call(flows, Hosts(preflight=True, on_report=reports.append), Host(lacks={"conference"}))
    opening = next(w for w in writes if b"execute-app-name: answer" in w)
    assert opening.index(b"execute-app-name: answer") < opening.index(b"api show application") \
        < opening.index(b"api file_exists")                   # asked first of all, after the first step
    assert b"execute-app-name: conference" not in b"".join(writes)   # the caller is not hung up
    assert first.run.result == "error" and first.run.executed[-1] == ("hangup", "NORMAL_TEMPORARY_FAILURE")
    assert [(p.kind, p.where) for p in reports[0].problems] == [(NeedKind.APPLICATION, "flows/conf.yaml:6:20")]


# -- the scripted host plays the recorded failures -------------------------------------------
def _sequence(data: bytes) -> list[tuple]:
    return [(m.name, m.application) if isinstance(m, Event) else (type(m).__name__,) for m in Parser().feed(data)]


def test_record_into_a_missing_folder_hangs_up_as_recorded():
    recorded = load("record_missing_directory")
    inbound = b"".join(recorded.chunks("in")[6:])            # from the record's reply on
    want = _sequence(inbound)
    fs = ScriptedFreeSwitch(destination="1000", host=Host(missing_directories={"/nonexistent/flowengine/voicemail"}))
    fs.linger = True
    got = _sequence(b"Content-Type: command/reply\nReply-Text: +OK\n\n"
                    + fs.run_app("record", "/nonexistent/flowengine/voicemail/msg.wav 10 200 3", "k1"))
    assert got == want
    hangup = next(m for m in Parser().feed(inbound) if isinstance(m, Event) and m.name == "CHANNEL_HANGUP")
    assert hangup.hangup_cause == "DESTINATION_OUT_OF_ORDER"


def test_say_in_a_language_without_its_module_completes_silently_as_recorded():
    recorded = [m for m in Parser().feed(load("language_missing").inbound())
                if isinstance(m, Event) and m.application == "say"]
    fs = ScriptedFreeSwitch(destination="1000")
    got = [m for m in Parser().feed(fs.run_app("say", "es number pronounced 42", "k")) if isinstance(m, Event)]
    assert [(e.name, e.application_response) for e in got] == \
        [(e.name, e.application_response) for e in recorded[:2]] == \
        [("CHANNEL_EXECUTE", None), ("CHANNEL_EXECUTE_COMPLETE", "_none_")]
    assert fs.heard == ["(nothing: no say module for 'es') say es number pronounced 42"]
    fs.run_app("say", "en number pronounced 42", "k2")
    assert fs.heard[-1] == "say en number pronounced 42"


def test_the_scripted_host_answers_the_questions_as_the_recorded_one():
    answers = recorded_answers()
    host = Host()
    assert host.api("api module_exists mod_say_es") == answers["module_exists mod_say_es"] == "false"
    assert host.api("api module_exists mod_flite") == answers["module_exists mod_flite"] == "true"
    assert host.api("api show say") == answers["show say"]
    assert host.api("api show application") == answers["show application"]
    from flowengine.preflight.plan import parse_interfaces
    for kind in ("speech", "say", "file", "api"):
        assert parse_interfaces(host.api("api show interfaces speech"), kind) == \
            parse_interfaces(answers["show interfaces speech"], kind)
    assert host.api(f"api file_exists {PREFIX}/ivr/menu.wav") == answers[f"file_exists {PREFIX}/ivr/menu.wav"]
    lacking = Host(missing_files={"ivr/menu.wav"}, tts_engines=set())
    assert lacking.api(f"api file_exists {PREFIX}/ivr/16000/menu.wav") == "false"
    assert parse_interfaces(lacking.api("api show interfaces speech"), "speech") == frozenset()


def test_a_flow_test_case_describes_the_host(tmp_path):
    from flowengine.testing.cases import load_test_file, run_case
    (tmp_path / "clinic.yaml").write_text(CLINIC)
    (tmp_path / "clinic.test.yaml").write_text("""\
cases:
  - name: leaving a message where the folder is missing hangs the caller up
    call: {destination: "3000"}
    caller: [{press: "2", at: menu}]
    host: {missing_directories: [/var/spool/clinic]}
    expect: {steps: [hello, menu, message], result: gone, cause: DESTINATION_OUT_OF_ORDER}
  - name: the old missing key still works
    call: {destination: "3000"}
    caller: [{press: "1", at: menu}]
    missing: [ivr/ivr-that_was_an_invalid_entry.wav]
    expect: {outcomes: {bye: not_found}, result: hangup}
""")
    test = load_test_file(tmp_path / "clinic.test.yaml")
    flows = load_flows(tmp_path)
    results = [run_case(case, flows) for case in test.cases]
    assert [r.problems for r in results] == [[], []]
    (tmp_path / "bad.test.yaml").write_text("""\
cases:
  - name: a typo
    call: {destination: "3000"}
    host: {missing_directory: [/var/spool/clinic]}
""")
    with pytest.raises(Exception) as failed:
        load_test_file(tmp_path / "bad.test.yaml")
    assert str(failed.value) == (f"{tmp_path / 'bad.test.yaml'}:4:12: case 'a typo': unknown host key "
                                 "'missing_directory' (did you mean 'missing_directories'?); known: "
                                 "lacks_applications, missing_directories, missing_files, modules_missing, "
                                 "say_languages, tts_engines")


# -- run.py preflight, over inbound Event Socket ------------------------------------------------
def preflight(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), "preflight", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def inbound():
    servers = []

    def start(**kw):
        servers.append(InboundFreeSwitch(**kw))
        return servers[-1]
    yield start
    for server in servers:
        server.close()


def test_the_command_exits_0_on_a_host_that_has_everything(inbound):
    fs = inbound(host=Host(say_languages={"en", "es"}))         # the bilingual example says Spanish too
    proc = preflight("--freeswitch", f"127.0.0.1:{fs.port}", "--flows", str(ROOT / "flows"),
                     "--sound-prefix", PREFIX)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"preflight of 127\.0\.0\.1:\d+: 0 problem\(s\) in 52 need\(s\) checked", proc.stdout)
    assert fs.writes[0] == 16 and "show say" in fs.asked        # pipelined, 16 to a write


def test_the_command_exits_1_naming_each_problem_where_the_flow_asks_for_it(inbound):
    fs = inbound(host=Host(missing_files={"ivr/ivr-office_hours.wav"}))   # and, as recorded, no mod_say_es
    proc = preflight("--freeswitch", f"127.0.0.1:{fs.port}", "--flows", "flows", "--sound-prefix", PREFIX, "--json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert [(p["where"], p["kind"]) for p in report["problems"]] == [
        ("flows/examples/languages.yaml:8:64", "say_language"), ("flows/main.yaml:62:5", "prompt")]
    text = preflight("--freeswitch", f"127.0.0.1:{fs.port}", "--flows", "flows")
    assert text.returncode == 1
    assert ("flows/examples/languages.yaml:8:64: say language 'es' has no say module on the host (api show say "
            "lists: en)") in text.stdout
    assert "not checked: 'ivr/ivr-office_hours.wav': a relative path and no sound_prefix" in text.stderr


def test_the_command_exits_2_when_it_cannot_ask(inbound):
    fs = inbound(password="secret", host=Host(say_languages={"en", "es"}))
    refused = preflight("--freeswitch", f"127.0.0.1:{fs.port}", "--password", "ClueCon")
    assert refused.returncode == 2
    assert "refused the password (-ERR invalid): give the event socket's password with --password" in refused.stderr
    assert preflight("--freeswitch", f"127.0.0.1:{fs.port}", "--password", "secret").returncode == 0
    from .test_operations import free_port
    gone = preflight("--freeswitch", f"127.0.0.1:{free_port()}")     # nothing listens there
    assert gone.returncode == 2 and "cannot connect to FreeSWITCH at 127.0.0.1" in gone.stderr


# -- the server: one host checked at its first call, seen in the log, the metric, /preflight ---
class _Scripted:
    """The scripted host over a real socket (what :func:`flowengine.replay.peer.play` drives)."""

    exhausted = peer_closes = False

    def __init__(self, fs: ScriptedFreeSwitch) -> None:
        self.fs = fs

    def opening(self):
        return []

    def receive(self, data):
        return self.fs.receive(data)


def test_the_server_checks_a_host_at_its_first_call_and_says_so_three_ways(server):
    import socket
    from flowengine.replay.peer import play
    from .test_operations import free_port, get
    port = free_port()
    srv = server("--metrics", f"127.0.0.1:{port}")
    srv.wait_for("metrics on")
    status, text = get(f"http://127.0.0.1:{port}/metrics")
    assert 'flowengine_preflight_problems{host="-",kind="prompt",peer="-"} 0.0' in text      # there from the start
    assert get(f"http://127.0.0.1:{port}/preflight") == (200, '{\n "hosts": []\n}\n')
    host = Host(missing_files={"ivr/welcome.wav"})
    for _ in range(3):        # a call that ends first leaves the rest of the questions to the next one
        fs = ScriptedFreeSwitch(destination="1000", host=host, uuid=None)
        play(socket.create_connection(("127.0.0.1", srv.port), timeout=10), _Scripted(fs))
        srv.wait_for("call end")
        report = json.loads(get(f"http://127.0.0.1:{port}/preflight")[1])["hosts"]
        if report:
            break
    (checked,) = report
    assert checked["host"] == "vm" and checked["peer"] == "127.0.0.1" and checked["sound_prefix"] == PREFIX
    assert "core_uuid" not in checked          # of use to no one but one who would pose as the host
    assert [(p["where"], p["kind"], p["value"]) for p in checked["problems"]] == [
        (f"{ROOT}/tests/flows/e2e/greeting.yaml:7:13", "prompt", "ivr/welcome.wav")]
    line = srv.wait_for("is not on the host")
    assert "tests/flows/e2e/greeting.yaml:7:13: step 'welcome': prompt 'ivr/welcome.wav'" in line
    assert line.endswith("(FreeSWITCH host vm)")
    text = get(f"http://127.0.0.1:{port}/metrics")[1]
    assert 'flowengine_preflight_problems{host="vm",kind="prompt",peer="127.0.0.1"} 1.0' in text
    assert 'flowengine_preflight_problems{host="vm",kind="directory",peer="127.0.0.1"} 0.0' in text
    assert 'host="-"' not in text
    assert srv.stop() == 0


def test_a_host_entry_the_call_never_uses_is_an_error_of_the_case(tmp_path):
    from flowengine.testing.cases import load_test_file, run_case
    (tmp_path / "clinic.yaml").write_text(CLINIC)
    (tmp_path / "clinic.test.yaml").write_text("""\
cases:
  - name: the folder is mistyped
    call: {destination: "3000"}
    caller: [{press: "2", at: menu}]
    host: {missing_directories: [/var/spool/clinc], missing_files: [ivr/never.wav]}
    expect: {result: hangup}
""")
    (case,) = load_test_file(tmp_path / "clinic.test.yaml").cases
    result = run_case(case, load_flows(tmp_path))
    where = f"{tmp_path / 'clinic.test.yaml'}:5:"
    assert [p.replace(where, "") for p in result.problems] == [
        "53: host: missing_files: ivr/never.wav is never used: no step of the call plays or records it",
        "12: host: missing_directories: /var/spool/clinc is never used: no step of the call plays or "
        "records under it"]


# -- a call's language moves its prompts: each is looked for under every prefix it can have -----
MARIA = "/usr/share/freeswitch/sounds/es/mx/maria"
BILINGUAL = f"""\
name: pharmacy
numbers: ["4000"]
languages:
  en: {{sound_prefix: {PREFIX}, say: en}}
  es: {{sound_prefix: {MARIA}, say: es}}
start: choose
steps:
  choose:
    menu:
      prompt: ivr/ivr-english_press_1_espanol_2.wav
      choices: {{"1": english, "2": spanish}}
    on: {{exhausted: english}}
  english: {{language: en, next: welcome}}
  spanish: {{language: es, next: welcome}}
  welcome: {{playback: ivr/ivr-welcome.wav, next: closing}}
  closing: {{playback: {{files: {{en: pharmacy/closing.wav, es: farmacia/cierre.wav}}}}, next: refill}}
  refill: {{call: {{flow: refill}}, next: bye}}
  bye: {{hangup: NORMAL_CLEARING}}
"""
REFILL = """\
name: refill
start: ask
steps:
  ask: {playback: refill/number.wav, next: done}
  done: {return: ok}
"""


def test_a_prompt_is_looked_for_under_each_language_a_call_can_have_there(tmp_path, inbound):
    """The Spanish caller heard silence: ivr-welcome.wav was checked under the channel's
    prefix only. Now under each language's too (and in a flow the bilingual one calls),
    and the finding names the language; a prompt written for one language is looked for
    under that language's prefix only."""
    (tmp_path / "pharmacy.yaml").write_text(BILINGUAL)
    (tmp_path / "refill.yaml").write_text(REFILL)
    flows = load_flows(tmp_path)
    plan = Plan(set_needs(flows), PREFIX)
    asked = []
    while not plan.done:
        for query in plan.take():
            asked.append(query)
            plan.answered(query, "true")
    for prefix in (PREFIX, MARIA):
        for prompt in ("ivr/ivr-welcome.wav", "refill/number.wav"):
            assert f"file_exists {prefix}/{prompt}" in asked
    assert f"file_exists {MARIA}/farmacia/cierre.wav" in asked
    assert f"file_exists {PREFIX}/farmacia/cierre.wav" not in asked       # only a Spanish call plays it
    assert f"file_exists {MARIA}/pharmacy/closing.wav" in asked           # the default's: any call may
    fs = inbound(host=Host(say_languages={"en", "es"},
                           missing_files={f"{MARIA}/ivr/ivr-welcome.wav", f"{MARIA}/refill/number.wav"}))
    proc = preflight("--freeswitch", f"127.0.0.1:{fs.port}", "--flows", str(tmp_path), "--sound-prefix", PREFIX,
                     "--json")
    assert proc.returncode == 1, proc.stderr
    found = [(p["where"].replace(f"{tmp_path}/", ""), p["value"], p["language"])
             for p in json.loads(proc.stdout)["problems"]]
    assert found == [("pharmacy.yaml:15:13", "ivr/ivr-welcome.wav", "es"),
                     ("refill.yaml:4:9", "refill/number.wav", "es")]
    text = preflight("--freeswitch", f"127.0.0.1:{fs.port}", "--flows", str(tmp_path), "--sound-prefix", PREFIX)
    assert (f"pharmacy.yaml:15:13: step 'welcome': prompt 'ivr/ivr-welcome.wav' is not on the host for language "
            f"'es' ({MARIA}/ivr/ivr-welcome.wav, nor in its 8000/16000/32000/48000 folders; api file_exists): "
            "playback reports FILE NOT FOUND and a caller in language 'es' hears nothing") in text.stdout


def test_without_the_channels_prefix_the_languages_prefixes_are_still_checked(tmp_path):
    (tmp_path / "pharmacy.yaml").write_text(BILINGUAL)
    (tmp_path / "refill.yaml").write_text(REFILL)
    plan = Plan(set_needs(load_flows(tmp_path)), None)
    asked = plan.take(256)
    assert f"file_exists {MARIA}/ivr/ivr-welcome.wav" in asked and f"file_exists {PREFIX}/ivr/ivr-welcome.wav" in asked
    assert not [why for _, why in plan.skipped if why.startswith("a relative path")]


def test_a_say_module_is_needed_only_by_a_call_that_says_something(tmp_path):
    """``say language 'es' has no say module`` was given for a flow without a say step."""
    def say_needs(*files: tuple[str, str]) -> list[tuple[str, str]]:
        for path in tmp_path.glob("*.yaml"):
            path.unlink()
        for name, text in files:
            (tmp_path / name).write_text(text)
        return sorted((n.flow, n.need.value) for n in set_needs(load_flows(tmp_path))
                      if n.need.kind is NeedKind.SAY_LANGUAGE)

    assert say_needs(("pharmacy.yaml", BILINGUAL), ("refill.yaml", REFILL)) == []
    saying = REFILL.replace("refill/number.wav, next: done}", "refill/number.wav, next: count}\n"
                            "  count: {say: {text: 3, type: number}, next: done}")
    assert say_needs(("pharmacy.yaml", BILINGUAL), ("refill.yaml", saying)) == [
        ("pharmacy", "en"), ("pharmacy", "es"), ("refill", "en")]     # the called flow says: the caller's languages
