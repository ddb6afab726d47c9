"""A recorded call's file is named by the channel's Unique-ID only when it is one: the peer
names the channel, so its Unique-ID must never become a path of its choosing."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowengine.session.recorder import Recorder

REAL = "6c75040f-629b-45ef-a87f-360422922966"
CHANNEL = {"Caller-Caller-ID-Number": "5551234", "Caller-Destination-Number": "1000"}


def _record(directory: Path, uuid: str) -> Path:
    recording = Recorder(directory).call()
    recording.inbound(b"Content-Type: command/reply\n\n")
    recording.named(uuid, CHANNEL)
    recording.close()
    assert recording.path is not None
    return recording.path


@pytest.mark.parametrize("uuid", ["../../outside/x", "/tmp/absolute/x", "a\0b", "", "x" * 300, "%2e%2e/x"])
def test_a_unique_id_that_is_no_uuid_names_no_file(tmp_path, uuid):
    directory = tmp_path / "calls"
    path = _record(directory, uuid)
    assert path.parent.parent == directory and path.name.startswith("unnamed-")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [path]


def test_a_real_unique_id_names_its_file_and_a_second_one_never_truncates_it(tmp_path):
    first = _record(tmp_path, REAL)
    assert first.name == f"{REAL}.jsonl"
    written = first.read_text()
    second = _record(tmp_path, REAL)     # a peer reusing a real call's UUID
    assert second != first and first.read_text() == written and second.name.startswith(REAL)


class _FullDisk:
    """A file whose second write fails as a full disk does."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        if self.writes == 2:
            raise OSError(28, "No space left on device")
        return len(text)

    def close(self) -> None:
        pass


def test_a_write_that_fails_while_records_wait_never_reaches_the_call(tmp_path, monkeypatch):
    recording = Recorder(tmp_path).call()
    for _ in range(3):                 # held back until the channel is named
        recording.inbound(b"Content-Type: command/reply\n\n")
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: _FullDisk())
    recording.named(REAL, CHANNEL)     # the header, then the second write fails
    recording.inbound(b"more\n\n")     # and the call goes on, unrecorded
    assert recording.owner.complained
