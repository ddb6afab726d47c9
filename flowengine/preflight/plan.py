"""The preflight planner, without I/O: needs in, ``api`` commands out, answers in, problems out.

:class:`Plan` owns the two halves that do not read answers: :mod:`.checks` (what each need is
asked with) and :mod:`.queries` (each command once, :data:`BATCH` at a time, at most
:data:`MAX_QUERIES` per check); here the answers are read, within bounds
(:data:`MAX_LIST_ANSWER` …: a list past them counts as not checkable, never as a problem),
and worded as problems. What each need is asked with and how FreeSWITCH looks for a relative
prompt: docs/freeswitch.md, "Preflight: asking the host"; why answers are bounded:
docs/security.md, "Nothing a peer or a flow sends can stall or exhaust the server".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..flows.steps import NeedKind
from .checks import RATES, SHOW_APPLICATION, SHOW_SAY, SHOW_SPEECH, Check, NeedChecks, Verdict, plain_prefix
from .needs import Located
from .queries import Queries

#: api commands one host check may ask; the needs past it are counted as not checked
MAX_QUERIES = 256
#: commands handed out at once (one write); the next batch when these are answered
BATCH = 16
#: the longest ``file_exists`` / ``module_exists`` answer read: FreeSWITCH's is ``true`` or
#: ``false`` (mod_commands.c, file_exists_function, module_exists_function)
MAX_TRUTH_ANSWER = 4 * 1024
#: the longest list answer read (``show application`` of a stock host: 10 KiB, 154 names)
MAX_LIST_ANSWER = 1024 * 1024
#: lines of a list answer read (an application's syntax may take a few: play_and_get_digits)
MAX_LIST_LINES = 16 * 1024
#: names a list may hold, and their length (the longest mod_dptools application: 27)
MAX_NAMES = 4096
MAX_NAME_CHARS = 128

#: the questions answered with a list, and the interface type each lists
_LISTS = {SHOW_APPLICATION: "application", SHOW_SAY: "say", SHOW_SPEECH: "speech"}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]*")


def in_step(step: str) -> str:
    """``step 'menu': `` for a step's need; nothing for the flow's own (``tts:``, ``languages:``)."""
    return f"step {step!r}: " if step != "-" else ""


@dataclass(frozen=True)
class Problem:
    """One thing the host lacks, where the flow asks for it, and what it does to a caller."""

    kind: NeedKind
    value: str
    where: str
    flow: str
    step: str
    message: str
    language: str | None = None  # the language whose sound_prefix a path was looked for under

    def line(self, host: str) -> str:
        return f"{self.where}: {in_step(self.step)}{self.message} (FreeSWITCH host {host})"

    def as_json(self) -> dict:
        return {
            "kind": self.kind.value,
            "value": self.value,
            "where": self.where,
            "flow": self.flow,
            "step": self.step,
            "language": self.language,
            "message": self.message,
        }


def parse_show_application(body: str) -> frozenset[str]:
    """The names in ``show application``'s CSV: the header, the ``N total.`` line and the
    continuation lines of a syntax that holds a newline (play_and_get_digits') left out."""
    names = set()
    for line in body.splitlines()[1:]:
        name = line.split(",", 1)[0].strip()
        if "," in line and _NAME.fullmatch(name):
            names.add(name)
    return frozenset(names)


def parse_interfaces(body: str, kind: str) -> frozenset[str]:
    """The names of one interface type in a ``type,name,ikey`` CSV (``show say``,
    ``show interfaces``): ``say,en,mod_say_en`` -> ``en``."""
    names = set()
    for line in body.splitlines()[1:]:
        parts = line.split(",")
        if len(parts) >= 3 and parts[0] == kind and parts[1]:
            names.add(parts[1])
    return frozenset(names)


def read_list(body: str | None, kind: str) -> frozenset[str] | None:
    """The names a list answer (of ``kind``: application, say, speech) holds, or None when
    it says nothing to go by: no answer, an error, or one past the caps (see the module)."""
    if body is None or body.startswith("-ERR") or len(body) > MAX_LIST_ANSWER or body.count("\n") > MAX_LIST_LINES:
        return None
    names = parse_show_application(body) if kind == "application" else parse_interfaces(body, kind)
    if len(names) > MAX_NAMES or any(len(name) > MAX_NAME_CHARS for name in names):
        return None
    return names


def _truth(body: str | None) -> bool | None:
    """``true`` / ``false`` of file_exists and module_exists; anything else tells nothing."""
    if body is None or len(body) > MAX_TRUTH_ANSWER:
        return None
    text = body.strip()
    return True if text == "true" else False if text == "false" else None


class Plan:
    """One host's check of a set of needs: the commands to ask, their answers, the problems.

    ``take()`` hands out the next commands (``api`` words, without ``api``); each comes
    back through ``answered(command, body)`` (``body`` None: no answer came). ``done`` once
    every command is answered; ``problems()`` then says what the host lacks, and
    ``skipped`` what could not be checked (and why)."""

    def __init__(
        self, needs: Iterable[Located] = (), sound_prefix: str | None = None, *, max_queries: int = MAX_QUERIES
    ) -> None:
        self.sound_prefix = plain_prefix(sound_prefix)
        self.checks: list[Check] = []
        self.over_cap = 0  # needs not checked: past max_queries
        self._needs = NeedChecks(self.sound_prefix)
        self._queries = Queries(max_queries)
        self._truths: dict[str, bool | None] = {}  # what each answer said (lists: None)
        self._lists: dict[str, frozenset[str] | None] = {}  # the names of each list answer
        self._second: dict[str, list[Check]] = {}  # a prompt's first question -> its checks
        self.add(needs)

    @property
    def max_queries(self) -> int:
        return self._queries.max_queries

    @property
    def skipped(self) -> list[tuple[Located, str]]:
        """The needs that cannot be checked, each with why."""
        return self._needs.skipped

    # -- needs in -----------------------------------------------------------------------
    def add(self, needs: Iterable[Located]) -> None:
        """More needs (a flow not seen before); their commands join the queue, deduplicated."""
        for located in needs:
            for check in self._needs.of(located):
                fresh = self._queries.fresh(check.queries)
                if not self._queries.fits(fresh):
                    self.over_cap += 1
                    continue
                self.checks.append(check)
                if check.second:
                    self._second.setdefault(check.queries[0], []).append(check)
                self._queries.add(fresh)

    def know_applications(self, names: frozenset[str] | None) -> None:
        """The host's ``show application`` as a call asked it before this plan did (None:
        an answer that says nothing to go by): taken as this plan's own, never asked again."""
        if self._queries.settled(SHOW_APPLICATION):
            self._lists[SHOW_APPLICATION] = names
            self._truths[SHOW_APPLICATION] = None

    # -- commands out, answers in ----------------------------------------------------------
    def take(self, limit: int = BATCH) -> list[str]:
        """The next commands to ask (at most ``limit``), now counted as asked."""
        return self._queries.take(limit)

    @property
    def waiting(self) -> bool:
        """Commands asked and not yet answered."""
        return self._queries.waiting

    @property
    def done(self) -> bool:
        return self._queries.done

    def answered(self, query: str, body: str | None) -> None:
        """The answer to ``query`` (None: none came, the call's socket closed first)."""
        if not self._queries.answered(query, body is not None):
            return  # asked again
        truth = None
        if query in _LISTS:  # kept as the names it lists, not the 10 KB it is
            self._lists[query] = read_list(body, _LISTS[query])
        else:  # kept as what it says, not as it came
            truth = _truth(body)
        self._truths[query] = truth
        if truth is False:
            self._follow_up(query)

    def _follow_up(self, query: str) -> None:
        """A prompt the first round did not find: ask its rate folders (if under the cap)."""
        for check in self._second.pop(query, ()):
            fresh = self._queries.fresh(check.second)
            if not self._queries.fits(fresh):
                continue
            check.queries, check.second = check.queries + check.second, ()
            self._queries.add(fresh)

    # -- what the host has ------------------------------------------------------------------
    def applications(self) -> frozenset[str] | None:
        """The host's applications, once ``show application`` is answered."""
        return self._lists.get(SHOW_APPLICATION) or None

    def _listed(self, query: str, kind: str) -> frozenset[str] | None:
        return self._lists.get(query)

    def _verdict(self, check: Check) -> Verdict:
        kind = check.located.need.kind
        if kind in (NeedKind.PROMPT, NeedKind.DIRECTORY, NeedKind.MODULE):
            answers = [self._truths.get(q) for q in check.queries]
            if any(a is True for a in answers):
                return Verdict.OK
            if check.second:  # not found as written; its rate folders are still to be asked
                return Verdict.UNKNOWN
            return Verdict.MISSING if all(a is False for a in answers) else Verdict.UNKNOWN
        if kind is NeedKind.APPLICATION:
            names = self.applications()
        elif kind is NeedKind.SAY_LANGUAGE:
            names = self._listed(SHOW_SAY, "say")
        else:
            names = self._listed(SHOW_SPEECH, "speech")
        if names is None:
            return Verdict.UNKNOWN
        return Verdict.OK if check.subject in names else Verdict.MISSING

    def unanswered(self) -> list[Located]:
        """Needs no answer settled (the host never answered, or answered neither way)."""
        return [c.located for c in self.checks if self._verdict(c) is Verdict.UNKNOWN]

    def problems(self) -> list[Problem]:
        """What the host lacks, one problem per place a flow asks for it, in flow order."""
        found = []
        for check in self.checks:
            check.verdict = self._verdict(check)
            if check.verdict is Verdict.MISSING:
                found.append(self._problem(check))
        return found

    def _problem(self, check: Check) -> Problem:
        located = check.located
        need = located.need
        value = need.value
        kind = need.kind
        # a path looked for under a language's sound_prefix: which callers it fails
        caller = "the caller" if check.language is None else f"a caller in language {check.language!r}"
        for_language = "" if check.language is None else f" for language {check.language!r}"
        if kind is NeedKind.PROMPT and check.folder_of is not None:
            text = (
                f"the folder {check.subject} of prompt {value!r} is not on the host{for_language} (api "
                f"file_exists): every prompt under it reports FILE NOT FOUND and {caller} hears nothing"
            )
        elif kind is NeedKind.PROMPT:
            rates = "/".join(map(str, RATES))
            text = (
                f"prompt {value!r} is not on the host{for_language} ({check.subject}, nor in its {rates} "
                f"folders; api file_exists): playback reports FILE NOT FOUND and {caller} hears nothing"
            )
        elif kind is NeedKind.DIRECTORY:
            text = (
                f"record folder {check.subject} does not exist on the host{for_language} (api file_exists): "
                f"FreeSWITCH hangs {caller} up (DESTINATION_OUT_OF_ORDER) when the recording starts; create it"
            )
        elif kind is NeedKind.APPLICATION:
            text = (
                f"application {value!r} is not on the host (api show application): FreeSWITCH would hang "
                "the caller up (DESTINATION_OUT_OF_ORDER), so the engine does not send it and runs on_error"
            )
        elif kind is NeedKind.MODULE:
            text = f"module {value} is not loaded on the host (api module_exists): load it (modules.conf.xml)"
        elif kind is NeedKind.SAY_LANGUAGE:
            names = ", ".join(sorted(self._listed(SHOW_SAY, "say") or ())) or "none"
            text = (
                f"say language {value!r} has no say module on the host (api show say lists: {names}): "
                f"say completes and the caller hears nothing; load mod_say_{value}"
            )
        else:
            names = ", ".join(sorted(self._listed(SHOW_SPEECH, "speech") or ())) or "none"
            text = (
                f"TTS engine {value!r} is not loaded on the host (speech interfaces: {names}): speak "
                "completes and the caller hears nothing"
            )
        return Problem(kind, value, located.where, located.flow, located.step, text, check.language)
