"""``${name}`` in flow values, expanded by the engine before anything reaches the wire.

Names are looked up in FreeSWITCH's own forms and cases; the result is a
:class:`~flowengine.quoting.text.Text` that marks every looked-up value as the call's, and
nothing is escaped here. The lookup rules: docs/freeswitch.md, "${name} in flow values".
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..errors import UnsafeValue
from ..quoting.expansion import author_expansions
from ..quoting.text import Span, Text, spans, untrusted_mask

# ``${name}``, ``${name:offset}``, ``${name:offset:length}``, ``${name[index]}``: the numbers
# as FreeSWITCH reads them with atoi, so junk (``:x``, ``::8``, ``:0:-1``) is a form too
_TEMPLATE = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_.+~-]*)(?::([^{}$:]{0,32})(?::([^{}$:]{0,32}))?|\[([^{}$\]]{0,32})\])?\}"
)
# a variable FreeSWITCH may fill that the engine leaves to it: a plain name (SIP header
# token characters included: mod_sofia keeps an X- header's name in sip_h_<name>)
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.+~-]*")
#: names FreeSWITCH answers from the other leg's caller profile (switch_channel.c,
#: switch_channel_get_variable_dup: aleg_/bleg_ prefixes), which the engine never sees
_OTHER_LEG = ("aleg_", "bleg_")
_ATOI = re.compile(r"\s*([+-]?\d{1,9})")


def atoi(text: str | None) -> int:
    """C's atoi, as FreeSWITCH reads an offset, a length or an index: leading blanks, a
    sign, digits; 0 when there are none (bounded: at most nine digits are read)."""
    match = _ATOI.match(text or "")
    return int(match.group(1)) if match else 0


def _plain(value: object) -> str:
    return "true" if value is True else "false" if value is False else str(value)


def _part(value: str, match: re.Match) -> str:
    """FreeSWITCH's ``:offset:length`` and ``[index]`` on a looked-up value (a Text keeps
    its marks only when whole: a slice of it is plain, so untrusted)."""
    offset, length, index = match.group(2), match.group(3), match.group(4)
    if index is not None:
        items = value[7:].split("|:") if value.startswith("ARRAY::") else [value]
        i = atoi(index)
        return items[i] if 0 <= i < len(items) else ""
    if offset is None:
        return value
    start = atoi(offset)
    text = str(value)
    part = text[start:] if start >= 0 else (text[start:] if -start <= len(text) else text)
    if length is not None and 0 < atoi(length) < len(part):
        part = part[: atoi(length)]
    return part


def expand(text: object, lookup: Callable[[str], object | None]) -> Text:
    """The author's ``text`` with every known ``${name}`` replaced by its value."""
    if not isinstance(text, str):
        text = _plain(text)
    if "${" not in text:
        plain = text if isinstance(text, Text) else Text(text, ())
        if "$" in plain and "{" in plain:
            _refuse_left(plain, lookup)  # $\'{…}: a ${ once FreeSWITCH drops the \'
        return plain
    mask = untrusted_mask(text) if isinstance(text, Text) else None
    out: list[str] = []
    found: list[Span] = []
    offset = pos = 0

    def keep(upto: int) -> None:
        nonlocal offset
        piece = text[pos:upto]
        if mask is not None:
            for span in spans(text):
                s, e = max(span.start, pos), min(span.end, upto)
                if s < e:
                    found.append(Span(s - pos + offset, e - pos + offset, span.source))
        out.append(piece)
        offset += len(piece)

    for match in _TEMPLATE.finditer(text):
        if mask is not None and any(mask[match.start() : match.end()]):
            continue  # a value from the call is never expanded again
        value = lookup(match.group(1))
        if value is None:
            continue
        keep(match.start())
        value = value if isinstance(value, str) else _plain(value)
        value = _part(value, match) if match.lastindex and match.lastindex > 1 else value
        for span in spans(value, match.group(1)):
            found.append(Span(span.start + offset, span.end + offset, span.source))
        out.append(str(value))
        offset += len(value)
        pos = match.end()
    keep(len(text))
    result = Text("".join(out), found)
    _refuse_left(result, lookup)
    return result


def _refuse_left(text: Text, lookup: Callable[[str], object | None]) -> None:
    """Every ``${…}`` the author wrote that is still in the text goes to FreeSWITCH, which
    fills a variable with its value and expands that value again (switch_channel.c,
    switch_channel_expand_variables_check) — so only what cannot hold the call's data may
    go: an API call (``${name args}``), or a variable written plainly (``${name}``,
    ``$${name}``, with ``:offset:length`` or ``[index]``) that the call has no value for and
    that is not the other leg's. FreeSWITCH expands a name before it looks it up, so a
    name holding ``\\'`` or another ``${…}``, and ``$\\'{…}`` (``${`` after a pass),
    could name any variable: they are refused, as is a plain one the call has a value for
    (a form the engine could not read)."""
    if "$" not in text:
        return
    raw = str(text)
    mask = untrusted_mask(text)
    for start, end in author_expansions(raw, mask):
        opening = raw.index("{", start)
        prefix = raw[start:opening]
        inner = raw[opening + 1 : end - 1] if raw[end - 1 : end] == "}" else raw[opening + 1 : end]
        head = re.split(r"[:\[]", inner, maxsplit=1)[0]
        call = re.match(r"[A-Za-z_][A-Za-z0-9_]*(?= |\()", inner)
        if call and prefix in ("$", "$$"):
            continue  # ${api args}, ${api(args)}: the author's own call
        plain = prefix in ("$", "$$") and _PLAIN_NAME.fullmatch(head) is not None
        other_leg = plain and head.lower().startswith(_OTHER_LEG)
        filled = plain and lookup(head) is not None
        if plain and not other_leg and not filled and not any(c in inner for c in "$'\\"):
            continue  # FreeSWITCH's to fill: the call has no value for it
        shown = raw[start : min(end, start + 48)]
        if other_leg:
            why = "it names the other leg, which FreeSWITCH fills from that leg's caller ID and the engine cannot see"
        elif filled:
            why = (
                f"the engine cannot read this form: write ${{{head}}}, ${{{head}:offset:length}} or ${{{head}[index]}}"
            )
        else:
            why = "FreeSWITCH would work out which variable it names, which may be one the call fills"
        raise UnsafeValue(f"{shown!r} is not sent: {why}")
