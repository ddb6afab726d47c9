"""The dialer's control connection (:class:`~flowengine.originate.link.Link`) against an event
socket on loopback that logs in as FreeSWITCH's does and then misbehaves: stops reading, or
answers nothing. One writer at a time, each write and each owed reply bounded in time; and
two rules of :mod:`~flowengine.originate.control` the dialer leans on."""

from __future__ import annotations

import socket
import threading
import time

import gevent
import pytest

from flowengine.esl import ApiResponse, Event
from flowengine.originate.control import OTHER_CAUSE, ControlError, Dial, State, cause_label
from flowengine.originate.link import Link

REPLY = b"Content-Type: command/reply\nReply-Text: +OK\n\n"
#: commands of ~2 KB in one write: ~10 MB, more than loopback's socket buffers hold (tcp_wmem
#: and tcp_rmem grow to a few MB)
BIG = 5000


class EventSocket:
    """Logs in as FreeSWITCH's event socket does (auth, event, filter: each ``+OK``), then
    ``mode``: ``echo`` answers each command with an api/response holding the command's text;
    ``mute`` reads and answers nothing; ``deaf`` reads nothing until :attr:`resume`, then
    echoes (a small receive window, so that the engine's writes block soon)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.resume = threading.Event()
        self.srv = socket.socket()
        if mode == "deaf":
            self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.logins = 0
        self.commands: list[bytes] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        try:
            self._converse(conn)
        except OSError:  # the engine dropped the connection
            return
        finally:
            conn.close()

    def _converse(self, conn: socket.socket) -> None:
        conn.sendall(b"Content-Type: auth/request\n\n")
        buf, seen = b"", 0
        while seen < 3:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            now = min(buf.count(b"\n\n"), 3)
            conn.sendall(REPLY * (now - seen))
            seen = now
        buf = buf.split(b"\n\n", 3)[3]
        with self.lock:
            self.logins += 1
        if self.mode == "deaf":
            self.resume.wait()
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            *whole, buf = buf.split(b"\n\n")
            with self.lock:
                self.commands += whole
            if self.mode != "mute":
                for command in whole:
                    conn.sendall(b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (len(command), command))

    def close(self) -> None:
        self.resume.set()
        self.srv.close()


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        gevent.sleep(0.02)


@pytest.fixture
def link_to():
    made: list[tuple[EventSocket, gevent.Greenlet]] = []

    def make(mode: str, **timeouts: float) -> tuple[EventSocket, Link]:
        fs = EventSocket(mode)
        link = Link(("127.0.0.1", fs.port), "ClueCon", 2.0, on_up=lambda: None, on_event=lambda e: None, **timeouts)
        made.append((fs, gevent.spawn(link.run)))
        _wait(lambda: link.up, 10, "never logged in")
        return fs, link

    yield make
    for fs, reader in made:
        reader.kill(block=False)
        fs.close()


def _commands(tag: str, n: int) -> tuple[bytes, list[bytes]]:
    """``n`` commands of about 2 KB each, one write."""
    each = [f"api uuid_exists {tag}{k:05d}-{'x' * 2000}".encode() for k in range(n)]
    return b"".join(c + b"\n\n" for c in each), each


def test_two_writers_while_freeswitch_does_not_read_write_whole_commands_and_each_gets_its_own_replies(link_to):
    """The first writer blocks (FreeSWITCH reads nothing); the second waits for it instead
    of writing into the middle of its bytes (or, with gevent, failing with
    ConcurrentObjectUseError); once FreeSWITCH reads again each command arrives whole and
    each reply reaches the sender of its command."""
    fs, link = link_to("deaf", write_timeout=30.0, reply_timeout=30.0)
    big, big_commands = _commands("a", BIG)
    small, small_commands = _commands("b", 1)
    got: dict[str, list[bytes]] = {"a": [], "b": []}

    def writer(tag: str, data: bytes, n: int) -> None:
        link.send(data, *[lambda r, t=tag: got[t].append(r.body.encode()) for _ in range(n)])

    first = gevent.spawn(writer, "a", big, len(big_commands))
    _wait(lambda: link.owed > 0, 10, "the first write never started")
    second = gevent.spawn(writer, "b", small, 1)
    gevent.sleep(0)
    assert not first.dead, "the write did not block: FreeSWITCH's buffers took it"
    assert not second.dead, f"the second writer did not wait for the first: {second.exception!r}"
    fs.resume.set()
    gevent.joinall([first, second], timeout=30, raise_error=True)
    assert first.successful() and second.successful()
    _wait(lambda: len(got["a"]) + len(got["b"]) == len(big_commands) + 1, 30, f"replies missing: {len(got['a'])}")
    assert got == {"a": big_commands, "b": small_commands}
    assert fs.commands == big_commands + small_commands
    assert fs.logins == 1


def test_a_write_freeswitch_does_not_read_in_time_drops_the_connection_and_takes_back_its_reply_slots(link_to):
    """FreeSWITCH stops reading: the write fails at its deadline with an error the sender
    handles (ControlError), the replies it added are no longer owed (the earlier command's
    still is, until the connection goes), and the connection is made again."""
    fs, link = link_to("deaf", write_timeout=0.5, reply_timeout=30.0)
    link.send(b"api uuid_exists earlier\n\n", None)
    big, big_commands = _commands("a", BIG)
    started = time.monotonic()
    with gevent.Timeout(10, AssertionError("the write was never given up")):
        with pytest.raises(ControlError, match="read nothing for 0.5 s"):
            link.send(big, *[None] * len(big_commands))
    took = time.monotonic() - started
    assert link.owed == 1, "the failed write's reply slots were left owed"
    assert 0.4 < took < 5, took
    _wait(lambda: fs.logins >= 2, 10, "the connection was not made again")


def test_a_reply_owed_past_its_deadline_drops_the_connection_and_it_is_made_again(link_to):
    """FreeSWITCH logs in, reads, and answers nothing: the owed reply's deadline drops the
    connection (its meaning is never called: no reply came) and a new one is made."""
    fs, link = link_to("mute", write_timeout=0.3, reply_timeout=0.3)
    told: list[object] = []
    started = time.monotonic()
    link.send(b"api uuid_kill x ALLOTTED_TIMEOUT\n\n", told.append)
    _wait(lambda: fs.logins >= 2, 10, "the connection that answered nothing was kept")
    assert time.monotonic() - started >= 0.6, "dropped before the reply was due"
    assert told == [] and link.owed == 0


def test_a_connection_that_answers_is_kept(link_to):
    """The deadlines are on owed replies only: replies that come keep the connection."""
    fs, link = link_to("echo", write_timeout=0.3, reply_timeout=0.3)
    told: list[ApiResponse] = []
    for k in range(5):
        link.send(f"api uuid_exists {k}\n\n".encode(), told.append)
        _wait(lambda k=k: len(told) == k + 1, 5, "no reply")
    assert [r.body for r in told] == [f"api uuid_exists {k}" for k in range(5)]
    assert fs.logins == 1 and link.owed == 0


def _hangup(uuid: str) -> Event:
    return Event.from_plain(
        f"Event-Name: CHANNEL_HANGUP_COMPLETE\nUnique-ID: {uuid}\nHangup-Cause: NORMAL_CLEARING\n".encode()
    )


@pytest.mark.parametrize("text", [None, "ANSWER", "RECV_REFUSE"])
def test_a_call_held_as_answered_after_a_reconnect_ends_at_its_hangup(text):
    """A call ``endpoint_disposition`` says is (or may be) answered is held as answered: its
    BACKGROUND_JOB went to the old connection and will not come, so its hangup ends it
    (before, an unreadable answer left ``answered`` False and the hangup was kept waiting
    for that job: the place was held until ``max_call``)."""
    dial = Dial(state=State.RINGING)
    assert dial.disposition(text)
    assert dial.answered and dial.state is State.IN_FLOW
    assert dial.feed(_hangup(dial.uuid)), "the hangup did not end the call"
    assert dial.cause == "NORMAL_CLEARING"


@pytest.mark.parametrize("text", ["_undef_", "EARLY MEDIA", "-ERR No such channel!"])
def test_a_ringing_or_gone_channel_is_not_held_as_answered(text):
    dial = Dial(state=State.RINGING)
    assert not dial.disposition(text)
    assert not dial.answered and dial.answered_at is None


@pytest.mark.parametrize(
    "cause, label",
    [
        ("USER_BUSY", "USER_BUSY"),
        ("NOT_SENT: the flow's variable x cannot be quoted", "NOT_SENT"),
        ("CONTROL_CONNECTION_LOST", "CONTROL_CONNECTION_LOST"),
        ("Invalid Application x", OTHER_CAUSE),
        ("SOMETHING_NEW_" + "A" * 30, OTHER_CAUSE),
        (None, OTHER_CAUSE),
        ("", OTHER_CAUSE),
    ],
)
def test_a_cause_label_is_one_of_a_fixed_set(cause, label):
    assert cause_label(cause) == label
