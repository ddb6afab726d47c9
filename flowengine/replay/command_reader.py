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
