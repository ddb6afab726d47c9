"""The package is type-checked and linted on every run of the tests: mypy and ruff, with
the settings in pyproject.toml (``[tool.mypy]``, ``[tool.ruff]``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_mypy_finds_no_error_in_the_package() -> None:
    done = _run("mypy", "--no-incremental")
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]


def test_ruff_finds_nothing_to_lint() -> None:
    done = _run("ruff", "check", "--no-cache", "flowengine", "run.py")
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]


def test_the_package_is_formatted_as_ruff_formats_it() -> None:
    done = _run("ruff", "format", "--check", "--no-cache", "flowengine", "run.py")
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
