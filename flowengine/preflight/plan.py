"""The preflight planner, without I/O: needs in, ``api`` commands out, answers in, problems out.

Commands are deduplicated, handed out :data:`BATCH` at a time and at most :data:`MAX_QUERIES`
per check; only what an answer settles is kept, within bounds (:data:`MAX_LIST_ANSWER` …), and
a list past them counts as not checkable, never as a problem. What each need is asked with and
how FreeSWITCH looks for a relative prompt: docs/freeswitch.md, "Preflight: asking the host";
why answers are bounded: docs/security.md, "Nothing a peer or a flow sends can stall or exhaust
the server".
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from ..flows.steps import NeedKind
from .needs import Located

#: api commands one host check may ask; the needs past it are counted as not checked
MAX_QUERIES = 256
#: commands handed out at once (one write); the next batch when these are answered
BATCH = 16
#: mod_sndfile's sample-rate folders (sndfile_file_open: the channel's rate, then 48000, 32000, 16000)
RATES = (8000, 16000, 32000, 48000)
#: times a command that got no answer is asked again
RETRIES = 1
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

SHOW_APPLICATION = "show application"
SHOW_SAY = "show say"
SHOW_SPEECH = "show interfaces speech"
#: the questions answered with a list, and the interface type each lists
_LISTS = {SHOW_APPLICATION: "application", SHOW_SAY: "say", SHOW_SPEECH: "speech"}

#: a sound_prefix (or --sound-prefix) preflight puts paths under: a plain absolute path,
#: nothing FreeSWITCH would expand (file_exists expands ``${…}``)
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9_.+@=/-]*")
_MODULE = re.compile(r"mod_[A-Za-z0-9_]+")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]*")
_NOT_A_FILE = ("say:", "phrase:", "{", "[", "$", "%")
#: folders FreeSWITCH makes itself when it starts (switch_core.c, switch_core_init: one
#: switch_dir_make_recursive per SWITCH_GLOBAL_dirs entry), named by their global variable:
#: a recording straight into one needs no question
MADE_AT_START = frozenset({"recordings_dir", "sounds_dir", "storage_dir", "temp_dir", "cache_dir"})


class Verdict(Enum):
    OK = "ok"
    MISSING = "missing"
    UNKNOWN = "unknown"  # not answered (yet), or an answer that says neither


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


def plain_prefix(value: str | None) -> str | None:
    """A sound_prefix preflight may put paths under, else None."""
    if value and len(value) <= 1024 and _PLAIN_PATH.fullmatch(value):
        return value.rstrip("/") or "/"
    return None


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


@dataclass
class _Check:
    """One need as asked: its queries (the first round, then any second) and its verdict."""

    located: Located
    subject: str  # what is looked for: a path, a name
    queries: tuple[str, ...]
    second: tuple[str, ...] = ()  # asked when the first round says missing (rate folders)
    folder_of: str | None = None  # a prompt checked by its author-written folder
    language: str | None = None  # checked under this language's sound_prefix (None: the channel's)
    verdict: Verdict = Verdict.UNKNOWN


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
        self.max_queries = max_queries
        self.checks: list[_Check] = []
        self.skipped: list[tuple[Located, str]] = []
        self.over_cap = 0  # needs not checked: past max_queries
        self._queue: deque[str] = deque()  # to ask
        self._asking: set[str] = set()  # asked, not answered
        self._truths: dict[str, bool | None] = {}  # what each answer said (lists: None)
        self._lists: dict[str, frozenset[str] | None] = {}  # the names of each list answer
        self._second: dict[str, list[_Check]] = {}  # a prompt's first question -> its checks
        self._tries: dict[str, int] = {}
        self._known: set[str] = set()  # every command ever queued
        self.add(needs)

    # -- needs in -----------------------------------------------------------------------
    def add(self, needs: Iterable[Located]) -> None:
        """More needs (a flow not seen before); their commands join the queue, deduplicated."""
        for located in needs:
            for check in self._checks(located):
                fresh = [q for q in check.queries if q not in self._known]
                if len(self._known) + len(fresh) > self.max_queries:
                    self.over_cap += 1
                    continue
                self.checks.append(check)
                if check.second:
                    self._second.setdefault(check.queries[0], []).append(check)
                self._queue_all(fresh)

    def know_applications(self, names: frozenset[str] | None) -> None:
        """The host's ``show application`` as a call asked it before this plan did (None:
        an answer that says nothing to go by): taken as this plan's own, never asked again."""
        if SHOW_APPLICATION not in self._known:
            self._known.add(SHOW_APPLICATION)
            self._lists[SHOW_APPLICATION] = names
            self._truths[SHOW_APPLICATION] = None

    def _queue_all(self, queries: Iterable[str]) -> None:
        for query in queries:
            if query not in self._known:
                self._known.add(query)
                if query == SHOW_APPLICATION:  # first: it keeps a caller from being hung up
                    self._queue.appendleft(query)
                else:
                    self._queue.append(query)

    @staticmethod
    def _resolve(value: str, prefix: str | None) -> str | None:
        """A path as FreeSWITCH opens it: absolute as written, relative under ``prefix``."""
        if value.startswith("/"):
            return value
        if prefix is None:
            return None
        return f"{prefix}/{value}" if value not in ("", ".") else prefix

    def _checks(self, located: Located) -> list[_Check]:
        """The checks of one need: a relative prompt or folder once under each sound_prefix
        the call may have there (the channel's, its flows' languages': :mod:`.needs`), each
        path once; anything else once."""
        need = located.need
        if need.kind not in (NeedKind.PROMPT, NeedKind.DIRECTORY) or need.value.startswith("/"):
            check = self._check(located)
            return [check] if check is not None else []
        prefixes: list[tuple[str | None, str | None]] = [(None, self.sound_prefix)] if located.channel else []
        for language, prefix in located.languages:
            plain = plain_prefix(prefix)
            if plain is None:
                self.skipped.append((located, f"language {language!r}: its sound_prefix is not a plain absolute path"))
            else:
                prefixes.append((language, plain))
        if len(prefixes) > 1 and prefixes[0] == (None, None):
            prefixes.pop(0)  # no channel prefix to check under, but the languages' are
        checks: list[_Check] = []
        skipped = len(self.skipped)
        for under, path in prefixes:
            check = self._check(located, path, under)
            if check is not None and all(c.subject != check.subject for c in checks):
                checks.append(check)
        self.skipped[skipped:] = dict.fromkeys(self.skipped[skipped:])  # a reason once, not once per prefix
        return checks

    def _check(self, located: Located, prefix: str | None = None, language: str | None = None) -> _Check | None:
        need = located.need
        kind, value = need.kind, need.value
        skip = self.skipped.append
        if (
            kind is NeedKind.DIRECTORY
            and value.lstrip("$").startswith("{")
            and value.endswith("}")
            and value.lstrip("$")[1:-1] in MADE_AT_START
        ):
            return None  # FreeSWITCH made it when it started
        if kind in (NeedKind.PROMPT, NeedKind.DIRECTORY):
            if "://" in value or value.startswith(_NOT_A_FILE):
                if kind is NeedKind.DIRECTORY:
                    skip((located, "not a folder path"))
                return None  # a stream, say:, phrase: … is no file
            folder_of = None
            if "${" in value:  # as far as the author wrote it: the folder before the variable
                head = value[: value.index("${")]
                cut = head.rfind("/")
                if cut <= 0:
                    skip((located, "depends on the call (${…}) before any folder"))
                    return None
                if kind is NeedKind.PROMPT:
                    folder_of = value
                value = head[:cut]
            path = self._resolve(value, prefix)
            if path is None:
                skip((located, "a relative path and no sound_prefix to put it under"))
                return None
            if "\n" in path or "\r" in path or len(path) > 4096:
                skip((located, "not a path FreeSWITCH can be asked about"))
                return None
            second: tuple[str, ...] = ()
            if kind is NeedKind.PROMPT and folder_of is None and "/" in path.strip("/"):
                folder, name = path.rsplit("/", 1)
                second = tuple(f"file_exists {folder}/{rate}/{name}" for rate in RATES)
            return _Check(located, path, (f"file_exists {path}",), second, folder_of, language)
        if "${" in value:
            skip((located, "depends on the call (${…})"))
            return None
        if kind is NeedKind.MODULE:
            if not _MODULE.fullmatch(value):
                skip((located, "not a module name (mod_…)"))
                return None
            return _Check(located, value, (f"module_exists {value}",))
        query = {
            NeedKind.APPLICATION: SHOW_APPLICATION,
            NeedKind.SAY_LANGUAGE: SHOW_SAY,
            NeedKind.TTS_ENGINE: SHOW_SPEECH,
        }[kind]
        return _Check(located, value, (query,))

    # -- commands out, answers in ----------------------------------------------------------
    def take(self, limit: int = BATCH) -> list[str]:
        """The next commands to ask (at most ``limit``), now counted as asked."""
        out: list[str] = []
        while self._queue and len(out) < limit:
            query = self._queue.popleft()
            self._asking.add(query)
            out.append(query)
        return out

    @property
    def waiting(self) -> bool:
        """Commands asked and not yet answered."""
        return bool(self._asking)

    @property
    def done(self) -> bool:
        return not self._queue and not self._asking

    def answered(self, query: str, body: str | None) -> None:
        """The answer to ``query`` (None: none came, the call's socket closed first)."""
        self._asking.discard(query)
        if body is None:
            tries = self._tries.get(query, 0)
            if tries < RETRIES:
                self._tries[query] = tries + 1
                self._queue.append(query)
                return
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
            fresh = [q for q in check.second if q not in self._known]
            if len(self._known) + len(fresh) > self.max_queries:
                continue
            check.queries, check.second = check.queries + check.second, ()
            self._queue_all(fresh)

    # -- what the host has ------------------------------------------------------------------
    def applications(self) -> frozenset[str] | None:
        """The host's applications, once ``show application`` is answered."""
        return self._lists.get(SHOW_APPLICATION) or None

    def _listed(self, query: str, kind: str) -> frozenset[str] | None:
        return self._lists.get(query)

    def _verdict(self, check: _Check) -> Verdict:
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

    def _problem(self, check: _Check) -> Problem:
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
