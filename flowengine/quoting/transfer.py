"""The argument of ``transfer``: which dialplan reads the extension decides what the call
may put in it.

The first word takes no option from the call, a dialplan word only name characters, and the
extension no call data at all when the ``inline`` dialplan (a list of applications) may read
it — which it may also when no dialplan is named (``force_transfer_dialplan``), so an
extension holding call data gets the dialplan word ``XML``; a blank, quote or backslash from
the call is refused anywhere. The rules, with
FreeSWITCH's source (transfer_function, inline_dialplan_hunt): docs/freeswitch.md, "transfer".
"""

from __future__ import annotations

import re

from ..errors import UnsafeValue
from .scan import author_expansions, call_in_start, view
from .text import join, literal, untrusted_mask

#: what call data may be in a dialplan word: one dialplan's name
DIALPLAN_CHARS = re.compile(r"[A-Za-z0-9_.-]")
#: an author's ``${…}`` as one character of the words (its value is not known here)
OPAQUE = "\x00"
_UNSAFE = frozenset(" \t'\\\"")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "s": " "}

Chars = list[tuple[str, "str | None"]]


def _expanded(text: str, mask: list[str | None]) -> Chars:
    """The characters after the core's expansion (switch_channel_expand_variables): the
    author's ``\\'`` gone, ``\\\\`` and ``\\$`` one character, each ``${…}`` one opaque one."""
    ends = dict(author_expansions(text, mask))
    out: Chars = []
    i = 0
    while i < len(text):
        if i in ends:
            out.append((OPAQUE, None))
            i = ends[i]
            continue
        c, m = text[i], mask[i]
        if m is None and c == "\\" and i + 1 < len(text) and mask[i + 1] is None and text[i + 1] in "'\\$":
            if text[i + 1] != "'":
                out.append((text[i + 1], None))
            i += 2
            continue
        out.append((c, m))
        i += 1
    return out


def _cleanup(word: Chars) -> Chars:
    """cleanup_separated_string: quotes dropped, ``\\'`` ``\\"`` ``\\\\`` ``\\n`` … undone."""
    out: Chars = []
    i = 0
    while i < len(word):
        c, m = word[i]
        if c == "\\" and i + 1 < len(word) and (word[i + 1][0] in "'\"\\" or word[i + 1][0] in _ESCAPES):
            nxt, nm = word[i + 1]
            out.append((_ESCAPES.get(nxt, nxt), nm))
            i += 2
            continue
        if c != "'":
            out.append((c, m))
        i += 1
    while out and out[0][0] == " ":
        out.pop(0)
    while out and out[-1][0] == " ":
        out.pop()
    return out


def words_of(text: str, mask: list[str | None], count: int = 4) -> list[Chars]:
    """The words ``switch_separate_string(arg, ' ', argv, count)`` makes of the argument once
    the core has expanded it, each cleaned up, every character with its source."""
    return _separate(text, mask, count)[0]


def _separate(text: str, mask: list[str | None], count: int) -> tuple[list[Chars], str]:
    """:func:`words_of`, and the delimiter FreeSWITCH splits at (a blank, or the ``X`` of a
    leading ``^^X``)."""
    cs = _expanded(text, mask)
    delim, blank = " ", True
    if len(cs) > 3 and cs[0][0] == "^" and cs[1][0] == "^":
        delim, blank, cs = cs[2][0], False, cs[3:]
    found: list[Chars] = []
    word: Chars = []
    inside = False
    i = 0
    while i < len(cs):
        if len(found) == count - 1:  # the last slot takes the rest
            word += cs[i:]
            break
        c = cs[i][0]
        if c == "\\" and i + 1 < len(cs):
            word += cs[i : i + 2]
            i += 2
            continue
        if c == "'":
            inside = not inside
        if c == delim and not inside:
            if word or not blank:  # a run of blanks is one separator
                found.append(word)
            word = []
        else:
            word.append(cs[i])
        i += 1
    if word:
        found.append(word)
    return [_cleanup(w) for w in found], delim


def _source(word: Chars) -> str | None:
    return next((m for _, m in word if m is not None), None)


def transfer_arg(value: str, what: str = "transfer") -> str:
    """``value`` (the whole ``transfer`` argument, before its encoding) when the call's part
    of it stays where the module says, with the dialplan word ``XML`` added after an extension
    that holds call data when the author wrote none (:func:`_named_dialplan`); else
    :class:`~flowengine.errors.UnsafeValue`."""
    text = str(value)
    mask = untrusted_mask(value)
    if not any(mask):
        return value
    for i, c in enumerate(text):
        if mask[i] is not None and (c in _UNSAFE or c.isspace()):
            raise UnsafeValue(
                f"{what}: the value of {mask[i]} contains {c!r}, which would split or quote "
                f"transfer's words: {text[:60]!r}"
            )
    seen = view(text, mask)  # switch_separate_string reads a leading ^^X as its delimiter
    who = call_in_start(seen, mask, 3) if seen.text.startswith("^^") else None
    if who is not None:
        raise UnsafeValue(
            f"{what}: the value of {who} starts with '^^', which changes transfer's word delimiter: {text[:60]!r}"
        )
    argv, delim = _separate(text, mask, 4)
    if not argv:
        return value
    first = argv[0]
    if first and first[0][0] == "-" and _source(first):
        raise UnsafeValue(
            f"{what}: the value of {_source(first)} is in the first word, which starts with '-' "
            f"as FreeSWITCH reads it: transfer takes -bleg / -both there as options: {text[:60]!r}"
        )
    if "".join(c for c, _ in first).lower() in ("-bleg", "-both"):
        argv = argv[1:]
    if not argv:
        return value
    who = _source(argv[0])
    if len(argv) < 2:
        return _named_dialplan(value, delim, what) if who else value
    dialplan = argv[1]
    for c, m in dialplan:
        if m is not None and not DIALPLAN_CHARS.fullmatch(c):
            raise UnsafeValue(
                f"{what}: the value of {m} puts {c!r} in the dialplan word, where ',' lists "
                f"dialplans and ':' hands one an argument (the inline dialplan runs it as "
                f"applications): {text[:60]!r}"
            )
    names = "".join(c for c, _ in dialplan)
    inline = any(part.split(":", 1)[0].strip().lower() == "inline" for part in names.split(","))
    why = (
        "names the inline dialplan"
        if inline
        else "holds the value of " + str(_source(dialplan))
        if _source(dialplan)
        else "holds a ${…} FreeSWITCH fills"
        if OPAQUE in names
        else "is empty as FreeSWITCH reads it (its quotes dropped), so the channel's "
        "force_transfer_dialplan chooses the dialplan"
        if not names.strip()
        else None
    )
    if why and who:
        raise UnsafeValue(
            f"{what}: the dialplan word {why}, which may read the extension as applications "
            f"(app:data,… — mod_dptools.c inline_dialplan_hunt), and the value of {who} is in the "
            f"extension: transfer to an XML extension and read the value there: {text[:60]!r}"
        )
    return value


def _named_dialplan(value: str, delim: str, what: str) -> str:
    """``value`` (a transfer to an extension holding call data, no dialplan word) with the
    dialplan word ``XML`` added.

    Without a dialplan word switch_ivr_session_transfer (src/switch_ivr.c, 1.10) takes the
    channel's ``force_transfer_dialplan`` — which the dialplan that ran before the socket
    may have set, unseen by the engine, to ``inline`` (the extension then runs as
    applications) — else the caller profile's dialplan (``inline`` there counts as none),
    else XML. A named dialplan is used as it is, so ``XML`` keeps the call out of the inline
    dialplan; the context stays unnamed, so it is the one the channel would use anyway
    (``force_transfer_context``, else the caller profile's, else ``default``). XML is what
    an unnamed dialplan is on a standard host; an author who wants another names it."""
    added = join([value, literal(delim + "XML")])
    argv = words_of(str(added), untrusted_mask(added))
    if argv and "".join(c for c, _ in argv[0]).lower() in ("-bleg", "-both"):
        argv = argv[1:]
    if len(argv) != 2 or "".join(c for c, _ in argv[1]) != "XML" or any(m for _, m in argv[1]):
        raise UnsafeValue(
            f"{what}: the extension holds call data and no dialplan is named, and the dialplan "
            f"word XML cannot be added to {str(value)[:60]!r} as one word: name the dialplan "
            "(FreeSWITCH would otherwise use the channel's force_transfer_dialplan, which may be inline)"
        )
    return added
