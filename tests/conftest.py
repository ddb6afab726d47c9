from __future__ import annotations

from pathlib import Path

import pytest

from flowengine.replay import Transcript

FIXTURES = Path(__file__).parent / "fixtures" / "esl"
FIXTURE_NAMES = sorted(p.stem for p in FIXTURES.glob("*.jsonl"))


def load(name: str) -> Transcript:
    return Transcript.load(FIXTURES / f"{name}.jsonl")


@pytest.fixture(params=FIXTURE_NAMES)
def transcript(request) -> Transcript:
    return load(request.param)


@pytest.fixture
def server():
    """Start run.py processes (``server(*args)``; the e2e flows unless ``--flows`` is given);
    whatever is still running at the end is killed."""
    from .processes import Server
    e2e = Path(__file__).resolve().parent / "flows" / "e2e"
    servers = []

    def start(*args):
        if "--flows" not in args:
            args = ("--flows", str(e2e), *args)
        servers.append(Server(*args))
        return servers[-1]

    yield start
    for s in servers:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
