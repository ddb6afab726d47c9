"""pytest collects ``*.test.yaml`` flow tests: one item per case, failures in flow terms;
``--flow-coverage`` lists what no case reaches, as ``run.py test --coverage`` does."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ..errors import FlowError
from ..flows import FlowSet, load_flows
from . import coverage
from .cases import BrokenCases, Case, CaseResult, load_test_file, run_case

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr, TracebackStyle

_FLOWS = pytest.StashKey[dict]()


def pytest_collect_file(parent, file_path):
    if file_path.name.endswith((".test.yaml", ".test.yml")):
        return FlowTestFile.from_parent(parent, path=file_path)
    return None


class FlowCaseFailed(Exception):
    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.problems)
        self.result = result


class FlowTestFile(pytest.File):
    def collect(self):
        broken: list[tuple[int, str, str]] = []
        try:
            test = load_test_file(self.path)
        except BrokenCases as exc:  # each broken case fails on its own; the others run
            test, broken = exc.test, exc.broken
        cache = self.config.stash.setdefault(_FLOWS, {})
        key = test.flows_dir.resolve()
        if key not in cache:
            cache[key] = load_flows(test.flows_dir)
        items: list[tuple[int, pytest.Item]] = [
            (case.index, FlowCase.from_parent(self, name=case.name, case=case, flows=cache[key], key=key))
            for case in test.cases
        ]
        items += [(index, BrokenCase.from_parent(self, name=name, problem=problem)) for index, name, problem in broken]
        for _, item in sorted(items, key=lambda pair: pair[0]):
            yield item

    # pytest's Collector.repr_failure takes no ``style`` either: it narrows Node's the same way
    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, FlowError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class FlowCase(pytest.Item):
    def __init__(self, *, case: Case, flows: FlowSet, key=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.flows = flows
        self.key = key

    def runtest(self) -> None:
        result = run_case(self.case, self.flows)
        if result.run is not None and self.config.getoption("--flow-coverage"):
            self.config.stash.setdefault(_RUNS, []).append((self.key, result.run))
        if not result.passed:
            raise FlowCaseFailed(result)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: TracebackStyle | None = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, FlowCaseFailed):
            problems = "\n".join("  " + p.replace("\n", "\n  ") for p in excinfo.value.result.problems)
            return f"{self.case.where}: case {self.case.name!r} failed:\n{problems}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        line = self.case.source.marks.get(("cases", self.case.index), (1, 1))[0]
        return self.path, line - 1, f"flow case: {self.case.name}"


class BrokenCase(pytest.Item):
    """A case its file cannot run as written: it fails with what is wrong, at its ``file:line:col``."""

    def __init__(self, *, problem: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.problem = problem

    def runtest(self) -> None:
        raise FlowError(self.problem)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: TracebackStyle | None = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, FlowError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"flow case: {self.name}"


_RUNS = pytest.StashKey[list]()


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--flow-coverage",
        action="store_true",
        default=False,
        help="list every flow step and outcome no *.test.yaml case reaches; fail if there is one",
    )


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    gaps = config.stash.get(_GAPS, None)
    if gaps is None:
        return
    terminalreporter.section("flow coverage")
    for gap in gaps:
        terminalreporter.write_line(gap)
    if not gaps:
        terminalreporter.write_line("every step and outcome is reached")


_GAPS = pytest.StashKey[list]()


def pytest_sessionfinish(session, exitstatus) -> None:
    config = session.config
    if not config.getoption("--flow-coverage"):
        return
    runs = config.stash.get(_RUNS, [])
    gaps: list[str] = []
    for key, flows in config.stash.get(_FLOWS, {}).items():
        gaps += coverage.missing(flows, [run for k, run in runs if k == key])
    config.stash[_GAPS] = gaps
    if gaps and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
