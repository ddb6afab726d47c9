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
