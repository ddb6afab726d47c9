"""Property: whatever the API is given, the originate line it writes is read by FreeSWITCH (the
model in tests/freeswitch_model.py) as two words, one leg dialling the allowed prefix and the
requested number, exactly the variables the engine meant, and the token carrying every value
back unchanged; or it is refused before a byte is written."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from flowengine.errors import UnsafeValue
from flowengine.originate.line import caller_id, dial_string, originate_arg, socket_app
from flowengine.runtime import call_token

from .freeswitch_model import chars, parse_dial_string, separate_blank, text_of

KEY = b"k" * 32
UUID = "d9ef0471-ee7e-4b58-80d4-c55ef31290f7"
PREFIX = "sofia/gateway/pstn/"
PIECES = [*"0123456789+# abc'\"\\,:;|{}[]<>=$^@/_-.\t\n&()%", "ARRAY::", "${x}", "^^:", ":_:"]
NASTY = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(rest=NASTY, name=NASTY, values=st.dictionaries(NAMES, NASTY, max_size=4), timeout=st.integers(1, 300))
def test_the_originate_line_reads_as_meant_or_is_refused(rest, name, values, timeout):
    try:
        dial = dial_string(PREFIX + rest, (PREFIX,))
        caller = caller_id(f"{name} <5550100>")
    except UnsafeValue:
        return
    token = call_token.issue(KEY, "reminder", values, UUID, time.time() + 60)
    arg = originate_arg(dial, UUID, call_token.VARIABLE, token, caller, timeout, socket_app("10.0.0.5", 9000))
    words = separate_blank(chars(arg, "engine"), 10)
    assert [text_of(w) for w in words[1:]] == ["&socket(10.0.0.5:9000 async full)"]
    parsed = parse_dial_string(words[0])
    assert [text_of(leg.endpoint) for leg in parsed.legs] == [PREFIX + rest]
    assert all(not leg.variables for leg in parsed.legs)
    got = {n: text_of(v) for n, v in parsed.variables}
    expected = {"origination_uuid", call_token.VARIABLE, "originate_timeout", "ignore_early_media",
                "origination_caller_id_number"} | ({"origination_caller_id_name"} if caller.name else set())
    assert set(got) == expected and len(parsed.variables) == len(expected)
    assert got["origination_uuid"] == UUID and got["origination_caller_id_number"] == "5550100"
    assert got.get("origination_caller_id_name") == caller.name and "$" not in (caller.name or "")
    assert call_token.read(got[call_token.VARIABLE], KEY, UUID, time.time()).vars == values


@settings(max_examples=300, deadline=None)
@given(rest=NASTY)
def test_what_the_api_may_dial_is_the_prefix_and_a_number(rest):
    try:
        dial = dial_string(PREFIX + rest, (PREFIX,))
    except UnsafeValue:
        return
    assert dial == PREFIX + rest and rest == "".join(c for c in rest if c.isalnum() or c in "+*#._-")
