"""run.py as a real process, with FreeSWITCH's side of calls played to it over TCP."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from flowengine.replay.fake import ReplayFreeSwitch
from flowengine.replay.peer import play

from .conftest import load

ROOT = Path(__file__).resolve().parent.parent


class Server:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "--listen", "127.0.0.1:0", *args],
            cwd=ROOT, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            line = self.wait_for("listening on")
        except BaseException:  # never leave a server behind a failed start
            self.proc.kill()
            self.proc.wait()
            raise
        self.port = int(re.search(r"listening on \S*:(\d+)", line).group(1))

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"server never logged {text!r}; log:\n" + "\n".join(self.lines))

    def call(self, name: str, pace: float = 0.0) -> ReplayFreeSwitch:
        replay = ReplayFreeSwitch(load(name))
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        play(sock, replay, pace=pace)
        return replay

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        finally:
            self._reader.join(timeout=5)
