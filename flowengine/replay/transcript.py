"""Recorded sessions (JSON Lines): a header line, then one record per socket read or write.

The format is the one real FreeSWITCH sessions were captured in: ``t`` seconds since
accept, ``dir`` ``in`` (FreeSWITCH to us, one record per recv) or ``out`` (one per write),
``data`` the bytes as UTF-8 text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Record:
    t: float
    dir: str
    data: bytes


@dataclass
class Transcript:
    name: str
    description: str = ""
    freeswitch: str = ""
    records: list[Record] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path) -> Transcript:
        path = Path(path)
        with path.open(encoding="utf-8") as fh:
            lines = [line for line in fh if line.strip()]
        if not lines:
            raise ValueError(f"{path}: empty transcript")
        head = json.loads(lines[0])
        records = []
        for number, line in enumerate(lines[1:], start=2):
            rec = json.loads(line)
            if rec.get("dir") not in ("in", "out") or "data" not in rec:
                raise ValueError(f"{path}:{number}: a record needs dir in/out and data")
            records.append(Record(float(rec.get("t", 0.0)), rec["dir"], rec["data"].encode("utf-8")))
        return cls(head.get("fixture", path.stem), head.get("description", ""), head.get("freeswitch", ""), records)

    def chunks(self, direction: str = "in") -> list[bytes]:
        return [r.data for r in self.records if r.dir == direction]

    def inbound(self) -> bytes:
        return b"".join(self.chunks("in"))
