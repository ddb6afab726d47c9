"""Call transcripts in the recorded-fixture format, so any real call can become a test.

``DIR/<YYYY-MM-DD>/<uuid>.jsonl``: a header line, then one ``{"t", "dir", "data"}`` record
per socket read (``in``) or write (``out``), ``t`` in seconds since the call was accepted.
Recording never stops a call: the first failure to write (a full disk, a directory we
may not write) is logged once per process, and that call goes on unrecorded.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from uuid import uuid4

log = logging.getLogger("flowengine.record")


#: a channel's Unique-ID as FreeSWITCH makes it (switch_uuid_str): 8-4-4-4-12 hex digits
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class Recorder:
    """Makes one :class:`CallRecording` per call; remembers whether it has complained."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.complained = False

    def call(self) -> CallRecording:
        return CallRecording(self)

    def failed(self, what: str, exc: Exception) -> None:
        if not self.complained:
            self.complained = True
            log.error("recording to %s failed (%s: %s); calls go on unrecorded", self.directory, what, exc)


class CallRecording:
    def __init__(self, owner: Recorder) -> None:
        self.owner = owner
        self.started = time.monotonic()
        self._pending: list[dict] = []
        self._file: IO[str] | None = None
        self._dead = False
        self.path: Path | None = None

    def _record(self, direction: str, data: bytes) -> None:
        if self._dead:
            return
        item = {
            "t": round(time.monotonic() - self.started, 6),
            "dir": direction,
            "data": data.decode("utf-8", "surrogateescape"),
        }
        if self._file is None:
            self._pending.append(item)
            return
        self._write(item)

    def inbound(self, data: bytes) -> None:
        self._record("in", data)

    def outbound(self, data: bytes) -> None:
        self._record("out", data)

    def named(self, uuid: str, channel) -> None:
        """The connect reply came: open the file and write what was held back."""
        if self._dead or self._file is not None:
            return
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        # the peer names the channel: a Unique-ID that is not a UUID (`../x`, an absolute
        # path, a NUL) names no file; nor does one already written (a peer reusing a real
        # call's UUID must not truncate its transcript): the file gets a name of our own
        name = uuid if _UUID.fullmatch(uuid or "") else f"unnamed-{uuid4()}"
        self.path = self.owner.directory / day / f"{name}.jsonl"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._file = self.path.open("x", encoding="utf-8")
            except FileExistsError:
                self.path = self.path.with_name(f"{name}-{uuid4()}.jsonl")
                self._file = self.path.open("x", encoding="utf-8")
        except (OSError, ValueError) as exc:
            self._give_up("open", exc)
            return
        get = channel.get
        header = {
            "fixture": uuid,
            "description": f"call {get('Caller-Caller-ID-Number') or '-'} -> {get('Caller-Destination-Number') or '-'}",
            "freeswitch": get("FreeSWITCH-Hostname") or "",
        }
        self._write(header)
        for item in self._pending:
            self._write(item)
        self._pending = []

    def _write(self, item: dict) -> None:
        if self._file is None:  # given up (a write failed): the call goes on unrecorded
            return
        try:
            self._file.write(json.dumps(item) + "\n")
        except (OSError, ValueError) as exc:
            self._give_up("write", exc)

    def _give_up(self, what: str, exc: Exception) -> None:
        self._dead = True
        self._pending = []
        self.owner.failed(what, exc)
        self.close()

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                self.owner.failed("close", exc)
            self._file = None
