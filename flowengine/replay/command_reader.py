"""FreeSWITCH's side of the framing: how mod_event_socket reads the commands we send.

A model of its ``read_packet`` (src/mod/event_handlers/mod_event_socket/mod_event_socket.c),
every header stored as switch_event_add_header_string stores it (:class:`Headers`). The replay
and scripted FreeSWITCH read the engine with it, and the tests use it to check that no value
ever adds a line FreeSWITCH would see. The rules it follows: docs/freeswitch.md, "How
FreeSWITCH reads a command".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ARRAY_PREFIX = "ARRAY::"
_ARRAY_SEP = "|:"
#: switch_event_base_add_header stores an indexed header (``name[3]``) only at 0..4000
_MAX_INDEX = 4000


class Headers:
    """The headers of a switch_event_t as src/switch_event.c stores them.

    ``switch_event_base_add_header``: a name with ``[n]`` sets element n of an array header;
    otherwise an empty value removes every header of the name and stores nothing, and a
    value starting ``ARRAY::`` goes to ``switch_event_add_array``: under 8 characters it
    stores nothing, else the rest is split at each ``|:`` and every part pushed (the first
    part, empty, stores nothing; a first part starting ``ARRAY::`` is split again). A pushed
    header's value is its one element, or ``ARRAY::`` and the elements joined by ``|:``.
    Names match without regard to case (switch_event_get_header_ptr).
    """

    __slots__ = ("_headers",)

    def __init__(self) -> None:
        self._headers: list[list] = []  # [name, value, elements or None]

    def _find(self, name: str) -> list | None:
        lname = name.lower()
        return next((h for h in self._headers if h[0].lower() == lname), None)

    def get(self, name: str) -> str | None:
        """switch_event_get_header: the first header of the name, its value."""
        found = self._find(name)
        return None if found is None else found[1]

    def add(self, name: str, value: str, *, push: bool = False) -> None:
        """switch_event_add_header_string(event, BOTTOM or PUSH, name, value)."""
        index = None
        if "[" in name:
            index = _atoi(name[name.index("[") + 1 :])
            name = name[: name.index("[")]
        header = self._find(name) if index is not None or push else None
        if index is not None:
            fly = header is None
            if header is None:
                header = [name, None, None]
            if not 0 <= index <= _MAX_INDEX:
                return
            elements = header[2] if header[2] is not None else []
            if index < len(elements):
                elements[index] = value
                header[2] = elements
                return  # FreeSWITCH does not redraw the value here
            elements += [""] * (index - len(elements)) + [value]
            header[2] = elements
            self._redraw(header)
            if fly:
                self._headers.append(header)
            return
        if header is None:
            if value == "":
                self._headers = [h for h in self._headers if h[0].lower() != name.lower()]
                return
            if value.startswith(ARRAY_PREFIX):
                self._add_array(name, value)
                return
            header = [name, None, None]
            self._headers.append(header)
        if push:
            if header[2] is None:
                header[2] = [] if header[1] is None else [header[1]]
            header[2].append(value)
            self._redraw(header)
        else:
            header[1] = value

    def _add_array(self, name: str, value: str) -> None:
        if len(value) < 8:
            return
        for part in value[len(ARRAY_PREFIX) :].split(_ARRAY_SEP):
            self.add(name, part, push=True)

    @staticmethod
    def _redraw(header: list) -> None:
        elements = header[2]
        header[1] = (ARRAY_PREFIX if len(elements) > 1 else "") + _ARRAY_SEP.join(elements)


def stored(value: str) -> str | None:
    """What a channel variable set to ``value`` holds: switch_channel_set_variable (and
    uuid_setvar, the set application, a dial string's ``{name=value}``) stores it with
    switch_event_add_header_string (src/switch_channel.c, src/switch_event.c), so
    ``ARRAY::hello`` is stored as ``hello`` (argument_in_body). None: nothing is stored."""
    headers = Headers()
    headers.add("v", value)
    return headers.get("v")


def _atoi(text: str) -> int:
    """C's atoi: blanks, a sign, digits; 0 without any."""
    found = re.match(r"[ \t\n\v\f\r]*([+-]?[0-9]+)", text)
    return int(found.group(1)) if found else 0


@dataclass
class Command:
    line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first header line of this name, as written (before FreeSWITCH stores it)."""
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None

    def stored(self) -> Headers:
        """The headers as FreeSWITCH stores them (:class:`Headers`)."""
        headers = Headers()
        for k, v in self.headers:
            headers.add(k, v)
        return headers

    @property
    def word(self) -> str:
        return self.line.split(" ", 1)[0].lower()

    @property
    def app(self) -> str | None:
        return self.stored().get("execute-app-name")

    @property
    def app_arg(self) -> str:
        """The argument FreeSWITCH runs (src/switch_ivr.c, switch_ivr_parse_event): the
        ``execute-app-arg`` header as stored (``ARRAY::x`` is ``x``); when that is empty and
        ``content-type`` is ``text/plain`` (strcasecmp), the body up to a NUL."""
        headers = self.stored()
        arg = headers.get("execute-app-arg")
        content_type = headers.get("content-type")
        if not arg and content_type is not None and content_type.encode().lower() == b"text/plain":
            return self.body.split(b"\0", 1)[0].decode("utf-8", "replace")
        return arg or ""

    def setvar(self) -> tuple[str, str, str | None] | None:
        """``api uuid_setvar``'s (uuid, name, value) as FreeSWITCH reads them (None: not
        one); the value None when there is none (the variable is unset)."""
        if not self.line.startswith("api uuid_setvar "):
            return None
        words = api_words(self.line[len("api uuid_setvar ") :], 3)
        if len(words) < 2:
            return None
        return words[0], words[1], words[2] if len(words) == 3 and words[2] else None

    def describe(self) -> str:
        if self.word == "sendmsg" and self.header("call-command") == "execute":
            return f'{self.app} "{self.app_arg}"'
        if self.word == "sendmsg" and self.header("call-command") == "hangup":  # as the app would read
            return f'hangup "{self.header("hangup-cause") or "NORMAL_CLEARING"}"'
        return self.line


class CommandReader:
    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Command]:
        buf = self._buf
        buf += data
        out = []
        while True:
            start = 0
            while start < len(buf) and buf[start] in (10, 13):
                start += 1
            if start:
                del buf[:start]
            found = _BLOCK_END.search(buf)
            if found is None:
                break
            block = bytes(buf[: found.end()])
            lines = _lines(block)
            first = lines[0].decode("utf-8", "replace")
            headers = []
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if sep:
                    headers.append((name.decode("utf-8", "replace"), value.lstrip(b" ").decode("utf-8", "replace")))
            # each content-length reads its body there and then; the last one is kept
            lengths = [_atoi(v) for k, v in headers if k.lower() == "content-length"]
            need = sum(n for n in lengths if n > 0)
            if len(buf) < len(block) + need:
                break
            at, body = len(block), b""
            for n in lengths:
                if n > 0:
                    body, at = bytes(buf[at : at + n]), at + n
            del buf[:at]
            out.append(Command(first, headers, body))
        return out


#: read_packet ends a command at an LF after an LF with only CRs between them
_BLOCK_END = re.compile(rb"\n\r*\n")


def _lines(block: bytes) -> list[bytes]:
    """read_packet's lines: each runs to the first CR after it, else to the first LF, and
    the next starts after the run of CRs and LFs there; a NUL ends the text (C strings)."""
    out: list[bytes] = []
    cur: int | None = 0
    while cur is not None:
        nul = block.find(b"\0", cur)
        text = block[cur : nul if nul >= 0 else len(block)]
        cut = text.find(b"\r")
        if cut < 0:
            cut = text.find(b"\n")
        if cut < 0:
            out.append(text)
            break
        out.append(text[:cut])
        cur += cut
        while cur < len(block) and block[cur] in (10, 13):
            cur += 1
        if cur >= len(block):
            cur = None
    return out


_UNESCAPED = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


def api_words(argument: str, slots: int) -> list[str]:
    """An api's argument split as uuid_setvar and its kin split it: blanks around it cut
    (switch_api_execute, switch_strip_whitespace: CR, LF, tab, space, VT), then ``switch_separate_string(arg, ' ',
    argv, slots)`` (src/switch_utils.c): words end at unquoted blanks, the last slot takes
    the rest, and each word is cleaned up (:func:`_cleaned`)."""
    text = argument.strip(" \t\r\n\v")
    words: list[str] = []
    i, n = 0, len(text)
    while i < n and len(words) < slots:
        if len(words) == slots - 1:
            words.append(text[i:])
            break
        start, quoted = i, False
        while i < n and (quoted or text[i] != " "):
            if text[i] == "\\":
                i += 1
            elif text[i] == "'":
                quoted = not quoted
            i += 1
        words.append(text[start:i])
        while i < n and text[i] == " ":
            i += 1
    return [_cleaned(word) for word in words]


def _cleaned(word: str) -> str:
    """cleanup_separated_string: leading blanks and unquoted trailing ones dropped, a ``'``
    with a partner toggles quoting and is dropped, ``\\`` before ``\\ ' "`` or ``n r t s``
    stands for that character."""
    out: list[str] = []
    end, quoted, i = 0, False, 0
    while i < len(word) and word[i] == " ":
        i += 1
    while i < len(word):
        c = word[i]
        if c == "\\" and i + 1 < len(word) and (word[i + 1] in "\\'\"" or word[i + 1] in _UNESCAPED):
            out.append(_UNESCAPED.get(word[i + 1], word[i + 1]))
            end, i = len(out), i + 2
            continue
        if c == "'" and (quoted or "'" in word[i + 1 :]):
            quoted = not quoted
            end = len(out)
        else:
            out.append(c)
            if c != " " or quoted:
                end = len(out)
        i += 1
    return "".join(out[:end])
