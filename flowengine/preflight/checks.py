"""How each need is asked: the ``api`` commands that settle one need on the host.

A relative prompt or record folder is looked for where FreeSWITCH would open it, under each
sound_prefix a call may have, and a prompt not found as written also in mod_sndfile's rate
folders (:data:`RATES`). What cannot be asked about (a stream, a path the call makes up, a
prefix FreeSWITCH would expand) is set aside with its reason, never reported as missing.
Kept apart from :mod:`.plan`, which queues these commands and reads their answers; the rules
and their FreeSWITCH sources: docs/freeswitch.md, "Preflight: asking the host".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from ..flows.steps import NeedKind
from .needs import Located

#: mod_sndfile's sample-rate folders (sndfile_file_open: the channel's rate, then 48000, 32000, 16000)
RATES = (8000, 16000, 32000, 48000)

SHOW_APPLICATION = "show application"
SHOW_SAY = "show say"
SHOW_SPEECH = "show interfaces speech"

#: a sound_prefix (or --sound-prefix) preflight puts paths under: a plain absolute path,
#: nothing FreeSWITCH would expand (file_exists expands ``${…}``)
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9_.+@=/-]*")
_MODULE = re.compile(r"mod_[A-Za-z0-9_]+")
_NOT_A_FILE = ("say:", "phrase:", "{", "[", "$", "%")
#: folders FreeSWITCH makes itself when it starts (switch_core.c, switch_core_init: one
#: switch_dir_make_recursive per SWITCH_GLOBAL_dirs entry), named by their global variable:
#: a recording straight into one needs no question
MADE_AT_START = frozenset({"recordings_dir", "sounds_dir", "storage_dir", "temp_dir", "cache_dir"})


class Verdict(Enum):
    OK = "ok"
    MISSING = "missing"
    UNKNOWN = "unknown"  # not answered (yet), or an answer that says neither


@dataclass
class Check:
    """One need as asked: its queries (the first round, then any second) and its verdict."""

    located: Located
    subject: str  # what is looked for: a path, a name
    queries: tuple[str, ...]
    second: tuple[str, ...] = ()  # asked when the first round says missing (rate folders)
    folder_of: str | None = None  # a prompt checked by its author-written folder
    language: str | None = None  # checked under this language's sound_prefix (None: the channel's)
    verdict: Verdict = Verdict.UNKNOWN


def plain_prefix(value: str | None) -> str | None:
    """A sound_prefix preflight may put paths under, else None."""
    if value and len(value) <= 1024 and _PLAIN_PATH.fullmatch(value):
        return value.rstrip("/") or "/"
    return None


def _resolve(value: str, prefix: str | None) -> str | None:
    """A path as FreeSWITCH opens it: absolute as written, relative under ``prefix``."""
    if value.startswith("/"):
        return value
    if prefix is None:
        return None
    return f"{prefix}/{value}" if value not in ("", ".") else prefix


class NeedChecks:
    """Needs into :class:`Check` objects for a channel's ``sound_prefix`` (a plain one, or
    None); ``skipped`` collects each need that cannot be checked, with why."""

    __slots__ = ("sound_prefix", "skipped")

    def __init__(self, sound_prefix: str | None) -> None:
        self.sound_prefix = sound_prefix
        self.skipped: list[tuple[Located, str]] = []

    def of(self, located: Located) -> list[Check]:
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
        checks: list[Check] = []
        skipped = len(self.skipped)
        for under, path in prefixes:
            check = self._check(located, path, under)
            if check is not None and all(c.subject != check.subject for c in checks):
                checks.append(check)
        self.skipped[skipped:] = dict.fromkeys(self.skipped[skipped:])  # a reason once, not once per prefix
        return checks

    def _check(self, located: Located, prefix: str | None = None, language: str | None = None) -> Check | None:
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
            path = _resolve(value, prefix)
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
            return Check(located, path, (f"file_exists {path}",), second, folder_of, language)
        if "${" in value:
            skip((located, "depends on the call (${…})"))
            return None
        if kind is NeedKind.MODULE:
            if not _MODULE.fullmatch(value):
                skip((located, "not a module name (mod_…)"))
                return None
            return Check(located, value, (f"module_exists {value}",))
        query = {
            NeedKind.APPLICATION: SHOW_APPLICATION,
            NeedKind.SAY_LANGUAGE: SHOW_SAY,
            NeedKind.TTS_ENGINE: SHOW_SPEECH,
        }[kind]
        return Check(located, value, (query,))
