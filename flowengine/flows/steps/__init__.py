"""One generator per step kind: yields commands, receives their results, returns an outcome."""

from .bridge import bridge
from .control import goto, hangup, return_, set_, transfer, when
from .digits import menu, play_and_get_digits
from .media import answer, playback, pre_answer, record, say, sleep

RUNNERS = {
    "answer": answer, "pre_answer": pre_answer, "playback": playback, "sleep": sleep, "say": say,
    "record": record, "play_and_get_digits": play_and_get_digits, "menu": menu, "bridge": bridge,
    "set": set_, "when": when, "goto": goto, "hangup": hangup, "transfer": transfer, "return": return_,
}
