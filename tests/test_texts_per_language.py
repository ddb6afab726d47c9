"""Texts per language: a `speak` text (and a `playback` file) written once for each of the
flow's languages, chosen by the call's language, the flow's first language the default;
`--check` names a language a text lacks or does not have, and a malformed one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowengine.flows import load_flows
from flowengine.flows.source import parse_source
from flowengine.flows.validate import check

from .flowkit import complete, flow_from, play
from .flowkit import pagd as pagd_answer
from .test_quoting_flows import channel

ROOT = Path(__file__).resolve().parent.parent

PHARMACY = """\
name: pharmacy
numbers: ["3000"]
languages:
  en: {sound_prefix: /usr/share/freeswitch/sounds/en/us/callie, tts: {engine: flite, voice: slt}}
  es: {sound_prefix: /usr/share/freeswitch/sounds/es/mx/maria, tts: {engine: flite, voice: kal}}
start: pick
steps:
  pick:
    menu: {prompt: ivr/ivr-english_press_1_espanol_2.wav, choices: {"1": english, "2": spanish}}
    on: {exhausted: greet}
  english: {language: en, next: greet}
  spanish: {language: es, next: greet}
  greet:
    speak:
      text:
        en: "Welcome, ${caller_id_name}"
        es: "Bienvenido, ${caller_id_name}"
    next: hours
  hours: {call: {flow: hours}, next: bye}
  bye: {playback: {files: {en: clinic/goodbye.wav, es: [clinic/adios.wav, clinic/gracias.wav]}}, next: end}
  end: {hangup: NORMAL_CLEARING}
"""

# a called flow: the caller's language is the one the calling flow chose
HOURS = """\
name: hours
languages:
  en: {tts: {engine: flite, voice: slt}}
  es: {tts: {engine: flite, voice: kal}}
start: say
steps:
  say: {speak: {text: {en: "We open at nine", es: "Abrimos a las nueve"}}, next: done}
  done: {return: done}
"""

MENU = "play_and_get_digits 1 1 1 5000 # ivr/ivr-english_press_1_espanol_2.wav silence_stream://250 menu_digits .* 3000"

CASES = f"""\
cases:
  - name: an English call hears the English texts
    call: {{destination: "3000", caller_name: Ann}}
    caller: [{{press: "1", at: pick}}]
    expect:
      executed: ['{MENU}', set sound_prefix=/usr/share/freeswitch/sounds/en/us/callie,
                 "speak flite|slt|Welcome, Ann", "speak flite|slt|We open at nine",
                 playback clinic/goodbye.wav, hangup NORMAL_CLEARING]
  - name: a Spanish call hears the Spanish texts, in the called flow too
    call: {{destination: "3000", caller_name: Ana}}
    caller: [{{press: "2", at: pick}}]
    expect:
      executed: ['{MENU}', set sound_prefix=/usr/share/freeswitch/sounds/es/mx/maria,
                 "speak flite|kal|Bienvenido, Ana", "speak flite|kal|Abrimos a las nueve",
                 playback clinic/adios.wav, playback clinic/gracias.wav, hangup NORMAL_CLEARING]
  - name: a call that chose no language hears the default's (the first of languages:)
    call: {{destination: "3000", caller_name: Bo}}
    expect:
      executed: ['{MENU}', '{MENU}', '{MENU}', "speak Welcome, Bo", "speak We open at nine",
                 playback clinic/goodbye.wav, hangup NORMAL_CLEARING]
"""


def write(folder: Path) -> None:
    (folder / "pharmacy.yaml").write_text(PHARMACY)
    (folder / "hours.yaml").write_text(HOURS)
    (folder / "pharmacy.test.yaml").write_text(CASES)


def run_py(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True, timeout=120)


def test_an_english_and_a_spanish_call_hear_their_texts(tmp_path):
    write(tmp_path)
    proc = run_py("test", str(tmp_path), "--coverage")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "3 passed, 0 failed"
    assert "coverage: every step and outcome is reached" in proc.stdout


def test_a_case_expecting_the_other_languages_text_fails(tmp_path):
    """The cases above pass because the texts differ by language, not because any text passes."""
    write(tmp_path)
    (tmp_path / "pharmacy.test.yaml").write_text(CASES.replace("Bienvenido, Ana", "Welcome, Ana"))
    proc = run_py("test", str(tmp_path))
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout and "Bienvenido, Ana" in proc.stdout


def test_a_language_a_text_lacks_hears_the_default_language():
    flow = flow_from(
        textwrap.dedent("""\
        name: l
        languages: {en: {}, es: {}}
        vars: {lang: es}
        start: pick
        steps:
          pick: {language: "${lang}", next: say}
          say: {speak: {text: {en: Hello}}, next: play}
          play: {playback: {files: {en: hello.wav}}, next: bye}
          bye: {hangup: NORMAL_CLEARING}
        """)
    )
    run = play(flow, lambda c: complete(c.app, c.arg))
    assert run.executed[:2] == [("speak", "Hello"), ("playback", "hello.wav")]


ENCODED = """\
name: s
languages: {en: {tts: {engine: flite, voice: slt}}, es: {tts: {engine: flite, voice: kal}}}
tts: {engine: flite, voice: slt}
start: say
steps:
  say: {speak: %s, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40))
def test_call_data_in_a_text_per_language_is_encoded_as_a_plain_text_is(name):
    """The text chosen for the call goes through speak's encoding (or is refused) exactly as
    the same text written plainly: a language mapping is no way around the quoting rules."""
    per_language = flow_from(ENCODED % '{text: {en: "Hi ${caller_id_name}!", es: "Hola"}}')
    plain = flow_from(ENCODED % '"Hi ${caller_id_name}!"')
    caller = channel(name=quote(name, safe="").encode())
    heard = [play(flow, lambda c: complete(c.app, c.arg), channel=caller).executed for flow in (per_language, plain)]
    assert heard[0] == heard[1]


# -- what --check says ----------------------------------------------------------------------------------

TEXTS = """\
name: x
languages: {en: {}, es: {}, fr: {}}
start: a
steps:
  a:
    speak:
      text: %s
    next: b
  b: {playback: {files: %s}, next: c}
  c: {hangup: NORMAL_CLEARING}
"""


def problems(text: str, files: str = "a.wav") -> tuple[list[str], list[str]]:
    _, errors, warnings = check(parse_source(TEXTS % (text, files), "flows/x.yaml"))
    return errors, warnings


def test_check_reports_each_language_a_text_lacks():
    errors, warnings = problems('{en: "Hello", es: "Hola"}', "{en: a.wav, fr: b.wav}")
    assert errors == []
    assert warnings == [
        "flows/x.yaml:7:7: warning: step 'a': has no text in 'fr': a call in 'fr' hears the 'en' one "
        "(the flow's default language)",
        "flows/x.yaml:9:18: warning: step 'b': has no prompt in 'es': a call in 'es' hears the 'en' one "
        "(the flow's default language)",
    ]


def test_check_refuses_a_text_without_the_default_language_or_with_an_undeclared_one():
    errors, _ = problems('{es: "Hola", fr: "Salut", de: "Hallo"}')
    assert errors == [
        "flows/x.yaml:7:39: step 'a': 'de' is not one of the flow's languages: en, es, fr",
        "flows/x.yaml:7:7: step 'a': has no text in 'en', the flow's default language (the first of "
        "languages:), which a call that chose no language, or one this text lacks, hears",
    ]
    errors, _ = problems('{en: "Hello", esp: "Hola", es: "Hola", fr: "Salut"}')
    assert errors == [
        "flows/x.yaml:7:27: step 'a': 'esp' is not one of the flow's languages: en, es, fr (did you mean 'es'?)"
    ]


def test_check_refuses_a_text_per_language_in_a_flow_without_languages():
    text = (TEXTS % ('{en: "Hello"}', "a.wav")).replace("languages: {en: {}, es: {}, fr: {}}\n", "")
    _, errors, _ = check(parse_source(text, "flows/x.yaml"))
    assert errors == [
        "flows/x.yaml:6:7: step 'a': a text per language needs the flow's languages: "
        "(en: {sound_prefix, say, tts}, …), the first of which is the default"
    ]


def test_run_py_check_shows_the_missing_language_with_file_line_and_column(tmp_path):
    (tmp_path / "x.yaml").write_text(TEXTS % ('{en: "Hello", es: "Hola"}', "a.wav"))
    proc = run_py("--check", str(tmp_path / "x.yaml"))
    assert f"{tmp_path / 'x.yaml'}:7:7: warning: step 'a': has no text in 'fr'" in proc.stdout + proc.stderr


def test_a_bar_in_any_language_without_a_voice_is_refused():
    text = TEXTS % ('{en: "a|b", es: "c", fr: "d"}', "a.wav")
    _, errors, _ = check(parse_source(text, "flows/x.yaml"))
    assert len(errors) == 1 and "the text holds '|'" in errors[0], errors


@pytest.mark.parametrize(
    ("text", "files", "message"),
    [
        (
            '{en: 5, es: x, fr: y}',
            "a.wav",
            "flows/x.yaml:7:14: step 'a': speak.text.en: 5 is read as a number, but text is wanted here: "
            'quote it ("5")',
        ),
        (
            "{}",
            "a.wav",
            "flows/x.yaml:7:7: step 'a': speak.text: {} does not fit: What is said: text, or one per language "
            '({en: "Welcome", es: "Bienvenido"}).',
        ),
        (
            '{"e n": x}',
            "a.wav",
            "flows/x.yaml:7:7: step 'a': speak.text: {'e n': 'x'} does not fit: What is said: text, or one per "
            'language ({en: "Welcome", es: "Bienvenido"}).',
        ),
        (
            "[a, b]",
            "a.wav",
            "flows/x.yaml:7:7: step 'a': speak.text: ['a', 'b'] does not fit: What is said: text, or one per "
            'language ({en: "Welcome", es: "Bienvenido"}).',
        ),
        (
            "x",
            "{en: [], es: b.wav, fr: c.wav}",
            "flows/x.yaml:9:26: step 'b': playback.files.en: [] does not fit: A sound file, or a list played in order.",
        ),
        (
            "x",
            "{en: a.wav, es: [b.wav, 5], fr: c.wav}",
            "flows/x.yaml:9:49: step 'b': playback.files.es.1: 5 is read as a number, but text is wanted here: "
            'quote it ("5")',
        ),
    ],
)
def test_a_malformed_text_per_language_is_a_schema_error_at_its_place(text, files, message):
    errors, _ = problems(text, files)
    assert errors == [message]


def test_a_yaml_anchor_writes_a_text_once_for_several_steps(tmp_path):
    (tmp_path / "x.yaml").write_text(
        textwrap.dedent("""\
        name: x
        languages: {en: {}, es: {}}
        start: a
        steps:
          a: {speak: {text: &sorry {en: Sorry, es: Lo siento}}, next: b}
          b: {speak: {text: *sorry}, next: c}
          c: {hangup: NORMAL_CLEARING}
        """)
    )
    flows = load_flows(tmp_path)
    run = play(flows["x"], lambda c: complete(c.app, c.arg))
    assert run.executed[:2] == [("speak", "Sorry"), ("speak", "Sorry")]


def test_texts_written_straight_under_speak_name_every_key_that_is_not_speaks():
    """``speak: {en: …, es: …}`` (``text:`` left out): each language is named, not the last alone."""
    text = (TEXTS % ("x", "a.wav")).replace("    speak:\n      text: x\n", '    speak: {en: "Hi", es: "Hola"}\n')
    _, errors, _ = check(parse_source(text, "flows/x.yaml"))
    assert errors == ["flows/x.yaml:6:13: step 'a': 'en' is not a known key; 'es' is not a known key"]


# -- prompts per language: menu and play_and_get_digits -------------------------------------------

CLINIC = """\
name: clinic
numbers: ["3100"]
languages:
  en: {sound_prefix: /sounds/en}
  es: {sound_prefix: /sounds/es}
start: pick
steps:
  pick:
    menu: {prompt: pick.wav, choices: {"1": english, "2": spanish}}
    on: {exhausted: main}
  english: {language: en, next: main}
  spanish: {language: es, next: main}
  main:
    menu:
      prompt: {en: main.wav, es: principal.wav}
      reprompt: {en: again.wav, es: otra_vez.wav}
      invalid: {en: sorry.wav, es: lo_siento.wav}
      no_input: {en: hello.wav, es: hola.wav}
      choices: {"1": account}
    on: {exhausted: bye}
  account:
    play_and_get_digits:
      prompt: {en: [enter.wav, account.wav], es: cuenta.wav}
      invalid: {en: wrong.wav, es: error.wav}
      min: 4
      max: 4
      tries: 1
      regexp: "^1"
    next: bye
  bye: {hangup: NORMAL_CLEARING}
"""


def pagd_cmd(
    file: str, invalid: str = "silence_stream://250", head: str = "1 1 1 5000 #", tail: str = "menu_digits .* 3000"
) -> str:
    return f"play_and_get_digits {head} {file} {invalid} {tail}"


PICK = pagd_cmd("pick.wav")
ACCOUNT = "4 4 1 5000 #"
CLINIC_CASES = f"""\
cases:
  - name: an English call hears the English menu prompts, its notice and reprompt
    call: {{destination: "3100"}}
    caller: [{{press: "1", at: pick}}]
    expect:
      outcomes: {{main: exhausted}}
      executed: ['{PICK}', set sound_prefix=/sounds/en, '{pagd_cmd("main.wav")}',
                 '{pagd_cmd("file_string://hello.wav!again.wav")}', '{pagd_cmd("file_string://hello.wav!again.wav")}',
                 hangup NORMAL_CLEARING]
  - name: a Spanish call hears the Spanish menu prompts and digit collection
    call: {{destination: "3100"}}
    caller: [{{press: "2", at: pick}}, {{press: "7", at: main}}, {{press: "1"}}, {{press: "1234#", at: account}}]
    expect:
      outcomes: {{main: "1", account: digits}}
      executed: ['{PICK}', set sound_prefix=/sounds/es, '{pagd_cmd("principal.wav")}',
                 '{pagd_cmd("file_string://lo_siento.wav!otra_vez.wav")}',
                 '{pagd_cmd("cuenta.wav", "error.wav", ACCOUNT, "digits ^1 5000")}', hangup NORMAL_CLEARING]
  - name: a call with no language hears the default's (English) prompts
    call: {{destination: "3100"}}
    caller: [{{press: "1", at: main}}, {{press: "1234#", at: account}}]
    expect:
      includes:
        executed: ['{pagd_cmd("main.wav")}',
                   '{pagd_cmd("file_string://enter.wav!account.wav", "wrong.wav", ACCOUNT, "digits ^1 5000")}']
"""


def test_an_english_and_a_spanish_call_hear_their_menu_and_digit_prompts(tmp_path):
    (tmp_path / "clinic.yaml").write_text(CLINIC)
    (tmp_path / "clinic.test.yaml").write_text(CLINIC_CASES)
    proc = run_py("test", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "3 passed, 0 failed"


def test_a_case_expecting_the_other_languages_menu_prompt_fails(tmp_path):
    (tmp_path / "clinic.yaml").write_text(CLINIC)
    (tmp_path / "clinic.test.yaml").write_text(CLINIC_CASES.replace("lo_siento.wav!otra_vez", "sorry.wav!again"))
    proc = run_py("test", str(tmp_path))
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout and "lo_siento.wav!otra_vez.wav" in proc.stdout


def test_a_menu_resumed_from_a_checkpoint_plays_the_calls_languages_notice_and_reprompt(tmp_path):
    """Failover: the next host starts the menu's next attempt in the language the call chose."""
    from flowengine.runtime import FlowRun, checkpoint

    (tmp_path / "clinic.yaml").write_text(CLINIC)
    flows = load_flows(tmp_path)
    run = FlowRun(flows.flows["clinic"], flows=flows)
    command = run.start()
    pressed = {"pick.wav": "2", "principal.wav": "7"}  # Spanish, then a wrong key in the main menu
    while "otra_vez" not in str(command.arg):
        key = next((k for f, k in pressed.items() if f in str(command.arg)), None)
        command = run.resume(pagd_answer("menu_digits", key) if key else None)
    text = checkpoint.capture(run, flows.digest, command.app)
    resumed = checkpoint.restore(text, flows, flows.flows["clinic"]).start_saved()
    assert f"{resumed.app} {resumed.arg}" == pagd_cmd("file_string://lo_siento.wav!otra_vez.wav")


def test_each_languages_prompts_are_needs_under_its_language():
    """Preflight reads a per-language prompt's language from its need's path: the Spanish
    file is looked for under the Spanish sound_prefix alone, the default's under every one."""
    from flowengine.preflight.needs import flow_needs

    flow = flow_from(CLINIC)
    prompts = [n for n in flow_needs(flow) if n.step != "-"]  # not the languages' own folders
    found = {(n.step, n.need.value): (n.need.path, n.languages, n.channel) for n in prompts}
    both = (("en", "/sounds/en"), ("es", "/sounds/es"))
    assert found["main", "principal.wav"] == (("menu", "prompt", "es"), (("es", "/sounds/es"),), False)
    assert found["main", "otra_vez.wav"] == (("menu", "reprompt", "es"), (("es", "/sounds/es"),), False)
    assert found["main", "hello.wav"] == (("menu", "no_input", "en"), both, True)
    assert found["account", "account.wav"] == (("play_and_get_digits", "prompt", "en", 1), both, True)
    assert found["account", "error.wav"] == (("play_and_get_digits", "invalid", "es"), (("es", "/sounds/es"),), False)
    assert len(prompts) == len(found) == 1 + 8 + 5  # pick, main's four per language, account's


PROMPTS = """\
name: x
languages: {en: {}, es: {}, fr: {}}
start: a
steps:
  a:
    menu:
      prompt: %s
      invalid: %s
      choices: {"1": b}
    on: {exhausted: c}
  b:
    play_and_get_digits: {prompt: %s, invalid: %s}
    next: c
  c: {hangup: NORMAL_CLEARING}
"""


def prompt_problems(menu: str, invalid: str = "i.wav", pagd: str = "p.wav", pagd_invalid: str = "i.wav"):
    _, errors, warnings = check(parse_source(PROMPTS % (menu, invalid, pagd, pagd_invalid), "flows/x.yaml"))
    return errors, warnings


def test_check_reports_a_language_a_menu_prompt_lacks_and_one_it_does_not_have():
    errors, warnings = prompt_problems(
        "{en: a.wav, es: b.wav}", pagd="{en: a.wav, es: b.wav, fr: c.wav}", pagd_invalid="{en: i.wav, fr: j.wav}"
    )
    assert errors == []
    assert warnings == [
        "flows/x.yaml:7:7: warning: step 'a': has no prompt in 'fr': a call in 'fr' hears the 'en' one "
        "(the flow's default language)",
        "flows/x.yaml:12:70: warning: step 'b': has no prompt in 'es': a call in 'es' hears the 'en' one "
        "(the flow's default language)",
    ]
    errors, _ = prompt_problems("{en: a.wav, es: b.wav, fr: c.wav}", invalid="{es: x.wav, fr: y.wav, it: z.wav}")
    assert errors == [
        "flows/x.yaml:8:39: step 'a': 'it' is not one of the flow's languages: en, es, fr",
        "flows/x.yaml:8:7: step 'a': has no prompt in 'en', the flow's default language (the first of "
        "languages:), which a call that chose no language, or one this prompt lacks, hears",
    ]


def test_run_py_check_names_the_language_a_menu_prompt_lacks(tmp_path):
    (tmp_path / "x.yaml").write_text(PROMPTS % ("{en: a.wav, fr: c.wav}", "i.wav", "p.wav", "i.wav"))
    proc = run_py("--check", str(tmp_path / "x.yaml"))
    assert f"{tmp_path / 'x.yaml'}:7:7: warning: step 'a': has no prompt in 'es'" in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("menu", "pagd_invalid", "message"),
    [
        (
            "{en: [], es: b.wav, fr: c.wav}",
            "i.wav",
            "flows/x.yaml:7:16: step 'a': menu.prompt.en: [] does not fit: A sound file, or a list played in order.",
        ),
        (
            "{}",
            "i.wav",
            "flows/x.yaml:7:7: step 'a': menu.prompt: {} does not fit: What the first attempt plays: a sound file "
            "or a list, or one per language.",
        ),
        (
            "{en: a.wav, 'e s': b.wav}",
            "i.wav",
            "flows/x.yaml:7:7: step 'a': menu.prompt: {'en': 'a.wav', 'e s': 'b.wav'} does not fit: What the "
            "first attempt plays: a sound file or a list, or one per language.",
        ),
        (
            "a.wav",
            "{en: 5}",
            "flows/x.yaml:12:52: step 'b': play_and_get_digits.invalid.en: 5 is read as a number, but text is "
            'wanted here: quote it ("5")',
        ),
    ],
)
def test_a_malformed_prompt_per_language_is_a_schema_error_at_its_place(menu, pagd_invalid, message):
    errors, _ = prompt_problems(menu, pagd_invalid=pagd_invalid)
    assert errors == [message]


# -- a '|' in a text: --check as the calls hear it ------------------------------------------------------

VOICED = """\
name: v
languages:
  en: {%s}
  es: {%s}
%s
start: %s
steps:
  to_en: {language: en, next: s}
  to_es: {language: es, next: s}
  s: {speak: {text: %s}, next: e}
  e: {hangup: NORMAL_CLEARING}
"""
TTS = "tts: {engine: flite, voice: slt}"
SPOKEN = ['"a | b"', '{en: "a | b", es: c}', '{en: a, es: "b | c"}', '{en: "a | b"}', '{en: a}']


@pytest.mark.parametrize("said", SPOKEN)
@pytest.mark.parametrize("en, es, flow_tts", [(e, s, f) for e in ("", TTS) for s in ("", TTS) for f in ("", TTS)])
def test_check_refuses_a_bar_exactly_when_a_call_would_refuse_it(said, en, es, flow_tts):
    """Every call the flow can make (in en, in es, with no language chosen) speaks its
    language's text (else the default's) with its language's voice (else the flow's):
    --check errs about the '|' if and only if one of them would be refused at run time."""
    _, errors, _ = check(parse_source(VOICED % (en, es, flow_tts, "s", said), "flows/v.yaml"))
    bars = [e for e in errors if "holds '|'" in e]
    refused = []
    for start in ("to_en", "to_es", "s"):
        # the same '|' where --check cannot see it (a flow value): what a call does with it
        hidden = VOICED % (en, es, flow_tts + '\nvars: {bar: "|"}', start, said.replace("|", "${bar}"))
        run = play(flow_from(hidden), lambda c: complete(c.app, c.arg))
        refused.append(not any(app == "speak" for app, _ in run.executed))
    assert bool(bars) == any(refused), (refused, errors)
    assert len(bars) <= 1  # one error per text, naming every call that would refuse it


def test_a_language_chosen_in_a_returned_called_flow_survives_a_failover(tmp_path):
    """The call's language is the call's own state, not a frame's: chosen in a called flow
    that has returned, it is still in the checkpoint, and the next host speaks that
    language's text in its voice."""
    from flowengine.runtime import checkpoint
    from flowengine.runtime.interpreter import FlowRun

    languages = "languages:\n  es: {tts: {engine: flite, voice: kal}}\n  en: {tts: {engine: flite, voice: slt}}\n"
    (tmp_path / "main.yaml").write_text(
        'name: main\nnumbers: ["100"]\n' + languages + "start: pick\nsteps:\n"
        "  pick: {call: {flow: chooser}, next: wait}\n  wait: {playback: wait.wav, next: greet}\n"
        '  greet: {speak: {text: {es: "Hola", en: "Hello"}}, next: bye}\n  bye: {hangup: NORMAL_CLEARING}\n'
    )
    (tmp_path / "chooser.yaml").write_text(
        "name: chooser\n" + languages + "start: l\nsteps:\n  l: {language: en, next: r}\n  r: {return: done}\n"
    )
    flows = load_flows(str(tmp_path))
    run = FlowRun(flows.flows["main"], flows=flows, channel=channel())
    command = run.start()
    while command.app != "playback":  # back in main, the chooser's frame gone
        command = run.resume(complete(command.app, str(command.arg)))
    assert len(run.frames) == 1
    saved = checkpoint.capture(run, flows.digest, "playback")
    resumed = checkpoint.restore(saved, flows, flows.flows["main"], channel=channel())
    command = resumed.start_saved(None)
    while command.app != "speak":
        command = resumed.resume(complete(command.app, str(command.arg)))
    assert str(command.arg) == "flite|slt|Hello"
