"""An application's command keeps every field but its argument when the argument is encoded."""

from __future__ import annotations

from dataclasses import fields

from flowengine.flows.effects import Execute
from flowengine.quoting.text import data, join, literal
from flowengine.runtime.interpreter import _encoded


def test_encoding_the_argument_keeps_every_other_field() -> None:
    # call data with a character the expansion would read: the argument must change
    arg = join([literal("/sounds/"), data("a${b}")])
    marks = {f.name: object() for f in fields(Execute) if f.name not in ("app", "arg")}
    command = Execute(app="playback", arg=arg, **marks)  # type: ignore[arg-type]
    out = _encoded(command)
    assert out.arg != command.arg
    assert out.app == "playback"
    for name, mark in marks.items():
        assert getattr(out, name) is mark, name
