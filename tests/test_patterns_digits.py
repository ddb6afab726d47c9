"""Digit /patterns/ (menu choices, play_and_get_digits ``on:`` keys) run on what the caller
pressed: as many digits as the step allows must still be matched in linear time."""

from __future__ import annotations

from .test_patterns import worst_case

PRESSED = {"menu": "1" * 31 + "0", "play_and_get_digits": "1" * 127 + "0"}  # the most each step takes


def test_a_menu_choice_pattern_finishes_fast():
    worst = worst_case(f"""
        from tests.flowkit import flow_from, pagd, play, script
        flow = flow_from('''
        name: x
        start: a
        steps:
          a:
            menu: {{prompt: m.wav, attempts: 1, max_digits: 32, choices: {{'/^(1+)+$/': matched}}}}
            on: {{exhausted: other}}
          matched: {{hangup: CALL_REJECTED}}
          other: {{hangup: NORMAL_CLEARING}}
        ''')
        run = timed(lambda: play(flow, script(pagd("menu_digits", {PRESSED["menu"]!r}))))
        assert run.visited == ["a", "other"], run.visited
        """)
    assert worst < 0.5


def test_a_play_and_get_digits_outcome_pattern_finishes_fast():
    worst = worst_case(f"""
        from tests.flowkit import flow_from, pagd, play, script
        flow = flow_from('''
        name: x
        start: a
        steps:
          a:
            play_and_get_digits: {{prompt: p.wav, max: 128}}
            on: {{'/^(1+)+$/': matched, digits: other, timeout: other, invalid: other}}
          matched: {{hangup: CALL_REJECTED}}
          other: {{hangup: NORMAL_CLEARING}}
        ''')
        run = timed(lambda: play(flow, script(pagd("digits", {PRESSED["play_and_get_digits"]!r}))))
        assert run.visited == ["a", "other"], run.visited
        """)
    assert worst < 0.5
