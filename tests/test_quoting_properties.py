"""Call data can never become FreeSWITCH syntax, wherever it lands: property tests judged by
the model of FreeSWITCH's parsing in tests/freeswitch_model.py (written from its source,
sharing no code with flowengine.quoting)."""

from __future__ import annotations

import posixpath

from hypothesis import HealthCheck, example, given, settings, strategies as st

from flowengine.errors import UnsafeValue
from flowengine.esl import commands
from flowengine.runtime.interpreter import _encoded
from flowengine.flows.model import Step
from flowengine.flows.steps import KINDS
from flowengine.flows.steps.bridge import dial_string
from flowengine.flows.templates import expand
from flowengine.quoting import Text, app_arg
from flowengine.quoting.text import untrusted_mask

from . import freeswitch_model as fs

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: what a hostile caller sends: every character FreeSWITCH's parsers give meaning to
HOSTILE = st.text(st.sampled_from(list("$${}\\'\"()[]<>,|:_^%=!/. @;a1")) | st.characters(
    codec="utf-8", exclude_categories=["Cs"]), max_size=14)
FS_VALUES = {"sound_prefix": "/usr/share/sounds", "domain": "example.com"}


class FakeRun:
    """What a step reads of the run: ``expand``, ``vars`` and the per-call state."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.vars: dict = {}
        self.call_state: dict = {"channel_vars": {"continue_on_fail": "true", "hangup_after_bridge": "false",
                                                  "playback_terminators": "#"}}

    def lookup(self, name: str):
        return self.values.get(name)

    def expand(self, value) -> Text:
        return expand(value, self.lookup)


def first_command(spec: dict, values: dict[str, str], kind: str):
    """The first application a step of ``kind`` sends, encoded as the interpreter encodes it."""
    gen = KINDS[kind].run(FakeRun(values), Step("s", kind, spec))
    return _encoded(next(gen))


def origins(encoded: str, text: str) -> fs.Chars:
    """Each encoded character with its origin. The encoders put characters in (a space
    between ``$`` and ``{``, a doubled backslash: the engine's) and write a control
    character from the call as a space (still the call's); an alignment finds which."""
    mask = untrusted_mask(text)
    # reach[j]: how the first characters of ``encoded`` read when they cover text[:j]
    reach: dict[int, fs.Chars] = {0: []}
    for c in encoded:
        nxt: dict[int, fs.Chars] = {}
        for j, got in reach.items():
            if j < len(text) and (c == text[j] or (c == " " and mask[j] is not None and fs_control(text[j]))):
                nxt.setdefault(j + 1, got + [(c, "author" if mask[j] is None else "call")])
            nxt.setdefault(j, got + [(c, "engine")])
        reach = nxt
    assert len(text) in reach, "the encoder dropped characters"
    return reach[len(text)]


def fs_control(c: str) -> bool:
    return ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0


def on_the_wire(app: str, arg: str) -> str:
    """The argument FreeSWITCH runs for ``arg`` as commands.execute writes it (the model)."""
    got_app, got = fs.sendmsg_argument(commands.execute(app, arg, event_uuid="e-1"))
    assert got_app == app
    return got or ""


def inert(value: str) -> str:
    return "".join(" " if fs_control(c) else c for c in value)


def passes(cs: fs.Chars, n: int) -> tuple[fs.Chars, list[fs.Expansion]]:
    return fs.expand_passes(cs, n, FS_VALUES.get)


def call_free(found: list[fs.Expansion]) -> bool:
    return all(not (e.origins & {"call", "engine"}) for e in found)


# -- application arguments ------------------------------------------------------------------
PIECE = st.one_of(
    st.text(st.sampled_from(list("ab ${}\\'()=:")), max_size=5),       # the author's text
    st.sampled_from(["${v1}", "${v2}", "${sound_prefix}", "$${domain}", "${expr(1+1)}"]))


@SETTINGS
@given(st.lists(PIECE, max_size=6), HOSTILE, HOSTILE, st.sampled_from(["playback", "set", "log"]))
def test_call_data_starts_no_expansion_in_any_pass(pieces, v1, v2, app):
    try:                        # refused by the templates or by the argument's encoding: safe
        text = expand("".join(pieces), {"v1": v1, "v2": v2}.get)
        encoded = app_arg(text, app)
    except UnsafeValue:
        return
    assert on_the_wire(app, encoded) == encoded
    # FreeSWITCH's passes for this application, and three more for wherever the value goes next
    cs, found = passes(origins(encoded, text), (2 if app == "set" else 1) + 3)
    assert call_free(found), [e for e in found if e.origins & {"call", "engine"}]


@SETTINGS
@given(st.lists(st.one_of(st.text(st.sampled_from(list("ab -=/{}()")), max_size=5),
                          st.sampled_from(["${v1}", "${v2}", "${sound_prefix}"])), max_size=6),
       HOSTILE, HOSTILE, st.sampled_from(["playback", "set"]))
def test_call_data_arrives_as_written_unless_it_was_broken_up(pieces, v1, v2, app):
    template = "".join(pieces)
    try:
        text = expand(template, {"v1": v1, "v2": v2}.get)
        encoded = app_arg(text, app)
    except UnsafeValue:
        return
    cs, _ = passes(origins(on_the_wire(app, encoded), text), 2 if app == "set" else 1)
    if not any(o == "engine" and c == " " for c, o in origins(encoded, text)):
        # the call's control characters arrive as spaces (quoting/text.py, without_controls)
        values = {"${v1}": inert(v1), "${v2}": inert(v2), "${sound_prefix}": FS_VALUES["sound_prefix"]}
        want, got = "".join(values.get(p, p) for p in pieces), fs.text_of(cs)
        if app == "set":   # a stored value: the call spells no ARRAY:: nor adds a |: (quoting/stored.py)
            assert len(got) == len(want) and all(g == w or (g == " " and w in "ARY|:") for g, w in zip(got, want))
        else:
            assert got == want


def test_the_issue_reproductions_cannot_call_system():
    for template, values in [("${caller_id_name}${caller_id_number}", {"caller_id_name": "x$",
                                                                       "caller_id_number": "{system id}"}),
                             ("$${caller_id_number}", {"caller_id_number": "{system id}"}),
                             ("${caller_id_name}", {"caller_id_name": "${system id}"}),
                             ("a\\${caller_id_name}", {"caller_id_name": "{system id}"}),
                             ("${caller_id_name}{system id}", {"caller_id_name": "\\$"})]:
        command = first_command({"set": {"both": template}}, values, "set")
        text = expand("both=" + template, values.get)
        _, found = passes(origins(command.arg, text), 2)
        assert call_free(found), (template, command.arg)
        assert not any(e.kind == "api" for e in found), (template, command.arg)


def test_call_data_inside_an_api_the_author_wrote_is_refused():
    text = expand("${expr(${caller_id_number}+1)}", {"caller_id_number": "1"}.get)
    try:
        app_arg(text, "set")
    except UnsafeValue as exc:
        assert "caller_id_number" in str(exc)
    else:
        raise AssertionError("data inside ${expr(...)} was sent")


def test_an_argument_the_call_starts_with_scoped_variables_is_refused():
    try:
        app_arg(expand("${x}", {"x": "%[api_hangup_hook=system x]foo"}.get), "transfer")
    except UnsafeValue as exc:
        assert "%[" in str(exc)
    else:
        raise AssertionError("%[…] from the call was sent")


# -- dial strings ---------------------------------------------------------------------------
BRIDGE = {"bridge": ["user/${caller_id_number}", {"to": "sofia/gateway/pstn/${v}", "timeout": 10}],
          "caller_id": {"name": "Sales ${caller_id_name}", "number": "${caller_id_number}"}, "timeout": 20}


@SETTINGS
@given(HOSTILE, HOSTILE, HOSTILE)
def test_call_data_never_adds_a_target_or_a_variable_to_a_dial_string(number, name, v):
    values = {"caller_id_number": number, "caller_id_name": name, "v": v}
    run = FakeRun(values)
    try:
        text = dial_string(run, BRIDGE)
        encoded = app_arg(text, "bridge")
    except UnsafeValue:
        return
    assert on_the_wire("bridge", encoded) == encoded
    cs, found = passes(origins(encoded, text), 1)
    assert call_free(found)
    parsed = fs.parse_dial_string(cs)
    assert [fs.text_of(leg.endpoint)[:len(p)] for leg, p in zip(parsed.legs, ("user/", "sofia/gateway/pstn/"))] \
        == ["user/", "sofia/gateway/pstn/"]
    assert len(parsed.legs) == 2
    assert [k for k, _ in parsed.variables] == ["origination_caller_id_number", "origination_caller_id_name"]
    assert [[k for k, _ in leg.variables] for leg in parsed.legs] == [["leg_timeout"], ["leg_timeout"]]
    for leg, prefix in zip(parsed.legs, ("user/", "sofia/gateway/pstn/")):
        # the call's characters fill only the number after the author's endpoint
        assert all(o != "call" for _, o in leg.endpoint[:len(prefix)])


def test_a_comma_in_the_caller_number_does_not_ring_another_target():
    run = FakeRun({"caller_id_number": "1001,sofia/gateway/pstn/19005550100"})
    try:
        dial_string(run, {"bridge": "user/${caller_id_number}"})
    except UnsafeValue as exc:
        assert "caller_id_number" in str(exc) and "','" in str(exc)
    else:
        raise AssertionError("the second target was dialled")


# -- argument words and paths ---------------------------------------------------------------
def _words(kind: str, spec: dict, values: dict, arraylen: int):
    try:
        command = first_command(spec, values, kind)
    except UnsafeValue:
        return None, None
    text = on_the_wire(command.app, command.arg)
    cs, found = passes([(c, "?") for c in text], 1)
    assert not any(e.kind == "api" and "${expr" not in text for e in found)
    return [fs.text_of(w) for w in fs.separate_blank(cs, arraylen)], command.arg


@SETTINGS
@given(HOSTILE, HOSTILE)
def test_call_data_fills_one_play_and_get_digits_word(lang, name):
    spec = {"play_and_get_digits": {"prompt": "ivr/${lang}/${name}.wav", "invalid": "ivr/${lang}/bad.wav",
                                    "min": 1, "max": 4, "tries": 3, "timeout": "5s", "regexp": "^\\d+$",
                                    "variable": "pin"}}
    words, _ = _words("play_and_get_digits", spec, {"lang": lang, "name": name}, 11)
    if words is None:
        return
    assert len(words) == 10
    assert words[:5] == ["1", "4", "3", "5000", "#"] and words[7:] == ["pin", "^\\d+$", "5000"]
    assert words[5] == f"ivr/{lang}/{name}.wav" and words[6] == f"ivr/{lang}/bad.wav"


@SETTINGS
@given(HOSTILE)
def test_call_data_fills_one_record_word_inside_the_folder(name):
    spec = {"record": {"file": "/var/lib/messages/${name}.wav", "max_seconds": 60}}
    words, _ = _words("record", spec, {"name": name}, 4)
    if words is None:
        return
    assert words[1:] == ["60", "200", "3"]
    assert posixpath.normpath(words[0]).startswith("/var/lib/messages/")
    assert words[0] == f"/var/lib/messages/{name}.wav"


@SETTINGS
@given(HOSTILE, HOSTILE)
def test_call_data_fills_one_say_word(lang, text):
    words, _ = _words("say", {"say": {"text": "${t}", "language": "${l}"}}, {"t": text, "l": lang}, 5)
    if words is None:
        return
    assert len(words) == 4 and words[1:3] == ["number", "pronounced"] and words[3] == text


@SETTINGS
@given(HOSTILE)
def test_call_data_fills_one_transfer_word(ext):
    words, _ = _words("transfer", {"transfer": "${e} XML default"}, {"e": ext}, 4)
    if words is None:
        return
    assert words == [ext, "XML", "default"]


@SETTINGS
@given(st.lists(HOSTILE, min_size=2, max_size=3))
def test_call_data_in_a_prompt_list_is_one_file_each(names):
    values = {f"n{i}": n for i, n in enumerate(names)}
    spec = {"play_and_get_digits": {"prompt": [f"digits/${{n{i}}}.wav" for i in range(len(names))]}}
    words, _ = _words("play_and_get_digits", spec, values, 11)
    if words is None:
        return
    assert words[5].startswith("file_string://")
    files = [fs.text_of(f) for f in fs.separate(fs.chars(words[5][len("file_string://"):], "?"), "!")]
    assert files == [f"digits/{n}.wav" for n in names]
    assert all(posixpath.normpath(f).startswith("digits/") for f in files)


@SETTINGS
@given(HOSTILE)
def test_call_data_in_a_playback_path_stays_a_relative_file_name(name):
    try:
        command = first_command({"playback": "${n}"}, {"n": name}, "playback")
    except UnsafeValue:
        return
    assert command.arg == name
    assert not name.startswith("/") and ".." not in name.split("/")
    assert not set(name) & set("!{}:$\\' ,")


# -- a set by api (uuid_setvar): the value arrives exactly, or goes by the application ---------
@SETTINGS
@given(st.text(st.sampled_from(list("$${}\\\\'\"  \t\n\r\vns;=a1")) | st.characters(
    codec="utf-8", exclude_categories=["Cs"]), max_size=20))
@example("\\\"")       # a backslash FreeSWITCH would take for an escape of the quote
@example("\\ ")
@example(" 'x' ")
@example("a\\")
@example("\x01")
@example("\x85")      # a Unicode blank at the end: FreeSWITCH trims only ASCII ones
@example("ARRAY::hello")   # stored as "hello" (argument_in_body): the call spells no array
@example("ARRAY::x|:y")
def test_uuid_setvar_sets_exactly_the_value_or_leaves_it_to_the_application(value):
    from flowengine.quoting.api import setvar_args
    uuid = "0d7a4e52-3f1c-4b8e-9a2d-5c6b7e8f9a0b"
    args = setvar_args(uuid, "note", value)
    # the call's value (a plain str) with its control characters as spaces (quoting/text.py)
    meant = inert(value)
    if args is None:
        # only what the application must set: what its expansion changes
        assert fs.var_check_const(meant) or fs.has_escaped_data(meant)
        return
    data = commands.api(f"uuid_setvar {args}")
    line = fs.api_line(data)                         # one command, whatever the value holds
    assert line.startswith("api uuid_setvar ")
    line = line[len("api uuid_setvar "):]
    assert "\r" not in line and "\n" not in line     # mod_event_socket cuts the line there
    # switch_api_execute trims the argument; uuid_setvar splits it in three
    words = fs.separate_blank(fs.chars(line.strip(" \t\r\n\v"), "engine"), 3)
    assert [fs.text_of(w) for w in words[:2]] == [uuid, "note"]
    given_value = fs.text_of(words[2]) if len(words) == 3 else ""
    stored = fs.store_variable(given_value)
    # switch_channel_set_variable keeps it as given (no ARRAY:: array), and it is the
    # call's value, but for a leading ARRAY:: the call spelled (its last ':' a space): a value
    # from the call never starts one, even where the array would read back as the same text
    assert stored == (given_value or None)
    if meant.startswith("ARRAY::"):
        assert given_value == "ARRAY: " + meant[7:]
    else:
        assert given_value == meant
    # and the set application would have stored the very same: its expansion changes nothing
    assert fs.text_of(fs.expand_passes(fs.chars(given_value, "call"), 2, lambda name: None)[0]) == given_value
