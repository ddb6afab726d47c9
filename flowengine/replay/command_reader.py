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

    Only the first header of a name is ever read (switch_event_get_header, and the header a
    push or an index finds), and every header of a name goes at once, so one per name is
    kept. FreeSWITCH redraws an array's value at each push (work that grows with the square
    of its elements); here it is drawn once, when read (:class:`_Header`).
    """

    __slots__ = ("_first",)

    def __init__(self) -> None:
        self._first: dict[str, _Header] = {}  # lower-case name -> its first header

    def get(self, name: str) -> str | None:
        """switch_event_get_header: the first header of the name, its value."""
        found = self._first.get(name.lower())
        return None if found is None else found.read()

    def add(self, name: str, value: str, *, push: bool = False) -> None:
        """switch_event_add_header_string(event, BOTTOM or PUSH, name, value)."""
        if "[" in name:
            index = _atoi(name[name.index("[") + 1 :])
            name = name[: name.index("[")]
            if 0 <= index <= _MAX_INDEX:
                self._first.setdefault(name.lower(), _Header()).put(index, value)
            return
        header = self._first.get(name.lower()) if push else None
        if header is None:
            if value == "":
                self._first.pop(name.lower(), None)
                return
            if value.startswith(ARRAY_PREFIX):
                self._add_array(name, value)
                return
            header = _Header(None if push else value)
            self._first.setdefault(name.lower(), header)  # a later one of the name is never read
        if push:
            header.push(value)

    def _add_array(self, name: str, value: str) -> None:
        if len(value) < 8:
            return
        for part in value[len(ARRAY_PREFIX) :].split(_ARRAY_SEP):
            self.add(name, part, push=True)


class _Header:
    """One header: its ``value`` as FreeSWITCH holds it, or (None) the one its ``elements``
    draw, ``ARRAY::`` and the elements joined by ``|:`` (one element alone). An element set
    in place (``name[n]`` below the length) leaves the value as it was drawn
    (switch_event_base_add_header does not redraw then): ``was`` keeps what those elements
    held at the last drawing, until the value is read or drawn again."""

    __slots__ = ("value", "elements", "was")

    def __init__(self, value: str | None = None) -> None:
        self.value = value
        self.elements: list[str] | None = None
        self.was: dict[int, str] = {}

    def read(self) -> str | None:
        if self.value is None and self.elements is not None:
            elements = self.elements
            if self.was:
                elements = [self.was.get(i, element) for i, element in enumerate(elements)]
            self.value = (ARRAY_PREFIX if len(elements) > 1 else "") + _ARRAY_SEP.join(elements)
            self.was = {}
        return self.value

    def _drawn(self) -> None:
        self.value = None
        self.was = {}

    def put(self, index: int, value: str) -> None:
        """``name[index]``: element ``index`` set; past the end, the array grows to it (a
        header with a plain value starts a new array) and the value is drawn again."""
        elements = self.elements if self.elements is not None else []
        if index < len(elements):
            if self.value is None:
                self.was.setdefault(index, elements[index])
            elements[index] = value
            return
        elements += [""] * (index - len(elements)) + [value]
        self.elements = elements
        self._drawn()

    def push(self, value: str) -> None:
        """PUSH: the value becomes the array's first element if it has none yet."""
        if self.elements is None:
            self.elements = [] if self.value is None else [self.value]
        self.elements.append(value)
        self._drawn()


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
    """Commands from the bytes of a connection, read as read_packet reads them.

    Each read costs work in proportion to its own bytes: the search for a command's blank
    line resumes where the last one stopped (:meth:`_block_end`), and a command's header
    lines are read once, however many reads its body takes."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._searched = 0  # bytes of _buf already searched for the blank line
        self._lf = False  # _buf ends in an LF and CRs: a blank line if an LF follows
        #: the command whose lines are read, still waiting for its body: (line, headers,
        #: content-lengths, bytes of its header block)
        self._head: tuple[str, list[tuple[str, str]], list[int], int] | None = None

    @property
    def in_headers(self) -> bool:
        """Whether a command has begun whose blank line has not come yet."""
        return self._head is None and bool(self._buf)

    def feed(self, data: bytes) -> list[Command]:
        buf = self._buf
        buf += data
        out = []
        while True:
            if self._head is None:
                if not self._searched:  # a command's start: the CRs and LFs before it are skipped
                    start = _past(_BLANKS, buf, 0)
                    if start:
                        del buf[:start]
                end = self._block_end(buf)
                if end is None:
                    break
                self._head = _head(bytes(buf[:end]))
            first, headers, lengths, size = self._head
            # each content-length reads its body there and then; the last one is kept
            if len(buf) < size + sum(n for n in lengths if n > 0):
                break
            at, body = size, b""
            for n in lengths:
                if n > 0:
                    body, at = bytes(buf[at : at + n]), at + n
            del buf[:at]
            self._head, self._searched, self._lf = None, 0, False
            out.append(Command(first, headers, body))
        return out

    def _block_end(self, buf: bytearray) -> int | None:
        """Where the header block ends (past the LF that ends its blank line; None: not
        yet), searching only what the last search did not: each byte is looked at once."""
        at = self._searched
        if self._lf:  # an LF and CRs so far: the next byte that is not a CR decides
            at = _past(_CRS, buf, at)
            if at == len(buf):
                self._searched = at
                return None
            self._lf = False
            if buf[at] == 10:
                return at + 1
        found = _BLOCK_END.search(buf, at)
        if found is not None:
            return found.end()
        # none yet: one may still start at a last LF that only CRs follow
        tail = _TAIL.search(buf, max(at - 1, 0))
        self._lf = tail is not None
        self._searched = len(buf)
        return None


def _head(block: bytes) -> tuple[str, list[tuple[str, str]], list[int], int]:
    """A header block's command line, its headers, its content-lengths and its size."""
    lines = _lines(block)
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers.append((name.decode("utf-8", "replace"), value.lstrip(b" ").decode("utf-8", "replace")))
    lengths = [_atoi(v) for k, v in headers if k.lower() == "content-length"]
    return lines[0].decode("utf-8", "replace"), headers, lengths, len(block)


#: read_packet ends a command at an LF after an LF with only CRs between them
_BLOCK_END = re.compile(rb"\n\r*\n")
#: the CRs and LFs before a command, a run of CRs, an LF that only CRs follow to the end
_BLANKS = re.compile(rb"[\r\n]*")
_CRS = re.compile(rb"\r*")
_TAIL = re.compile(rb"\n\r*\Z")


def _past(run: re.Pattern[bytes], data: bytes | bytearray, at: int) -> int:
    """Where the run of ``run`` (a pattern that matches anywhere, if only nothing) at ``at`` ends."""
    found = run.match(data, at)
    return at if found is None else found.end()


def _lines(block: bytes) -> list[bytes]:
    """read_packet's lines: each runs to the first CR after it, else to the first LF, and
    the next starts after the run of CRs and LFs there; a NUL ends the text (C strings).
    The NUL, and the next CR and LF, are each found once and kept while still ahead."""
    end = block.find(b"\0")
    if end < 0:
        end = len(block)
    out: list[bytes] = []
    cur, cr, lf = 0, -2, -2  # -2: not looked for yet; -1: none ahead
    while True:
        if cr != -1 and cr < cur:
            cr = block.find(b"\r", cur, end)
        if cr < 0 and lf != -1 and lf < cur:
            lf = block.find(b"\n", cur, end)
        cut = cr if cr >= 0 else lf
        if cut < 0:
            out.append(block[cur:end])
            return out
        out.append(block[cur:cut])
        cur = _past(_BLANKS, block, cut)
        if cur >= len(block):
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
