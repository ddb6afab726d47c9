#!/usr/bin/env python3
"""Peak memory of the real server while peers hold large partial bodies, on loopback only.

Starts ``run.py --listen 127.0.0.1:PORT --flows flows/`` and opens ``--peers`` connections
to it. Each peer answers ``connect`` with a real call's channel data and the set-up
commands with ``+OK`` (so the server holds a call waiting for its first application),
sends the header of a 16 MiB event and ``--body-mib`` MiB of its body, then stalls. With
``--before-connect`` it sends that body instead of the connect reply. Prints the server's
RSS before, its peak (VmHWM) during, and how many peers it cut off.

Run: ``python3 bench/memory_attack.py`` (40 peers x 15 MiB); ``--root DIR`` runs the
run.py and flowengine found in DIR instead (another checkout, to compare).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))  # first: bench/run.py, not the top-level run.py

from run import free_port, rss_kb, wait_listening  # noqa: E402  (bench/run.py)
from flowengine.replay import Transcript  # noqa: E402

CONNECT_REPLY = Transcript.load(ROOT / "tests" / "fixtures" / "esl" / "answer_playback_hangup.jsonl").chunks("in")[0]
MiB = 1024 * 1024
CHUNK = b"x" * MiB
OK = b"Content-Type: command/reply\nReply-Text: +OK\n\n"


class Peer(threading.Thread):
    """One attacking connection; ``cut`` tells whether the server ended it."""

    def __init__(self, port: int, body: int, before_connect: bool, stop: threading.Event, deadline: float) -> None:
        super().__init__(daemon=True)
        self.port, self.body, self.before_connect = port, body, before_connect
        self.stop, self.deadline = stop, deadline
        self.sent = self.cut = self.failed = False

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                self.attack(sock)
        except OSError:  # reset or broken pipe while sending: the server cut us off
            self.cut = True
        except Exception:  # noqa: BLE001 - a bench peer reports, never raises
            self.failed = True

    def attack(self, sock: socket.socket) -> None:
        if sock.recv(100) != b"connect\n\n":
            raise RuntimeError("no connect")
        if not self.before_connect:
            sock.sendall(CONNECT_REPLY)
            setup = b""
            while b"nixevent" not in setup and time.monotonic() < self.deadline:
                data = sock.recv(65536)
                if not data:
                    self.cut = True
                    return
                setup += data
            sock.sendall(OK * 3)  # myevents, linger, nixevent: the flow starts
        sock.sendall(b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % (16 * MiB))
        for _ in range(self.body // MiB):
            sock.sendall(CHUNK)
        self.sent = True
        sock.settimeout(0.2)
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            try:
                if not sock.recv(65536):  # EOF: the server ended this call
                    self.cut = True
                    return
            except socket.timeout:
                pass


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--peers", type=int, default=40)
    p.add_argument("--body-mib", type=int, default=15, help="MiB of the 16 MiB body each peer sends (max 15)")
    p.add_argument("--before-connect", action="store_true", help="send the body instead of the connect reply")
    p.add_argument("--root", type=Path, default=ROOT, help="checkout whose run.py and flowengine to run")
    p.add_argument("--seconds", type=float, default=60.0, help="give up on the attack after this long")
    args = p.parse_args()
    body = min(args.body_mib, 15) * MiB
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(args.root.resolve()))
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen([sys.executable, "run.py", "--listen", f"127.0.0.1:{port}", "--flows", "flows/",
                                   "--log-level", "warning"], cwd=args.root, env=env, stderr=log)
        try:
            wait_listening(port, server)
            time.sleep(0.5)
            before = rss_kb(server.pid)
            stop, deadline = threading.Event(), time.monotonic() + args.seconds
            peers = [Peer(port, body, args.before_connect, stop, deadline) for _ in range(args.peers)]
            for peer in peers:
                peer.start()
            sampled = before
            while time.monotonic() < deadline and any(p.is_alive() and not p.sent and not p.cut for p in peers):
                sampled = max(sampled, rss_kb(server.pid))
                time.sleep(0.05)
            time.sleep(1.0)  # let the server read what is in flight
            sampled = max(sampled, rss_kb(server.pid))
            peak = rss_kb(server.pid, "VmHWM")
            stop.set()
            for peer in peers:
                peer.join(timeout=5)
        finally:
            server.send_signal(signal.SIGINT)
            server.send_signal(signal.SIGINT)  # a second signal: hang up at once
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log.seek(0)
        refusals = sum("buffered across all connections" in line or "before the reply to connect" in line
                       for line in log)
    cut = sum(p.cut for p in peers)
    print(f"server: {args.root.resolve()}")
    print(f"attack: {args.peers} peers x {body // MiB} MiB of a 16 MiB body"
          f" ({'before' if args.before_connect else 'after'} the connect reply), {args.peers * body // MiB} MiB sent")
    print(f"RSS before {before / 1024:.0f} MB, peak {max(peak, sampled) / 1024:.0f} MB (VmHWM)")
    print(f"peers cut off by the server: {cut}/{args.peers} ({refusals} logged refusals);"
          f" peers that failed otherwise: {sum(p.failed for p in peers)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
