"""FreeSWITCH's side of the framing: how mod_event_socket reads the commands we send.

A model of its ``read_packet``: CR and LF before a command are skipped; the command ends
at the first empty line (``\\n\\n`` or ``\\r\\n\\r\\n``); the first line is the command;
later lines split at the first ``:`` with leading spaces dropped from the value; a line
without ``:`` is dropped; ``content-length`` (any case) announces a body of that many
bytes. The replay FreeSWITCH reads the engine with it, and the tests use it to check
that no value ever adds a line FreeSWITCH would see.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Command:
    line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None

    @property
    def word(self) -> str:
        return self.line.split(" ", 1)[0].lower()

    @property
    def app(self) -> str | None:
        return self.header("execute-app-name")

    @property
    def app_arg(self) -> str:
        """The argument FreeSWITCH would run: the header, else a text/plain body."""
        arg = self.header("execute-app-arg")
        if not arg and self.header("content-type") == "text/plain":
            return self.body.split(b"\0", 1)[0].decode("utf-8", "replace")
        return arg or ""

    def setvar(self) -> tuple[str, str, str | None] | None:
        """``api uuid_setvar``'s (uuid, name, value) as FreeSWITCH reads them (None: not
        one); the value None when there is none (the variable is unset)."""
        if not self.line.startswith("api uuid_setvar "):
            return None
        words = api_words(self.line[len("api uuid_setvar "):], 3)
        if len(words) < 2:
            return None
        return words[0], words[1], words[2] if len(words) == 3 and words[2] else None

    def describe(self) -> str:
        if self.word == "sendmsg" and self.header("call-command") == "execute":
            return f'{self.app} "{self.app_arg}"'
        if self.word == "sendmsg" and self.header("call-command") == "hangup":   # as the app would read
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
            end = _block_end(buf)
            if end is None:
                break
            stop, skip = end
            lines = bytes(buf[:stop]).replace(b"\r\n", b"\n").split(b"\n")
            first = lines[0].decode("utf-8", "replace")
            headers = []
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if sep:
                    headers.append((name.decode("utf-8", "replace"),
                                    value.lstrip(b" ").decode("utf-8", "replace")))
            command = Command(first, headers)
            length = command.header("content-length")
            need = int(length) if length and length.isdigit() else 0
            if len(buf) < stop + skip + need:
                break
            command.body = bytes(buf[stop + skip:stop + skip + need])
            del buf[:stop + skip + need]
            out.append(command)
        return out


def _block_end(buf: bytearray) -> tuple[int, int] | None:
    lf = buf.find(b"\n\n")
    crlf = buf.find(b"\r\n\r\n")
    if lf < 0 and crlf < 0:
        return None
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, 4
    return lf, 2


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
        if c == "'" and (quoted or "'" in word[i + 1:]):
            quoted = not quoted
            end = len(out)
        else:
            out.append(c)
            if c != " " or quoted:
                end = len(out)
        i += 1
    return "".join(out[:end])
