"""The FreeSWITCH host the scripted FreeSWITCH stands for: what it has and what it lacks.

By default the recorded host (api_capabilities); a case's ``host:`` takes things away, and
the call goes as it would on such a host; the same host answers preflight's questions.
What it has: docs/freeswitch.md, "The scripted FreeSWITCH".
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from ..preflight.plan import RATES, parse_interfaces
from ..replay.fake import RECORDED_APPLICATIONS, RECORDED_INTERFACES, RECORDED_SAY

#: the sound_prefix of the recorded channel (data/channel.json)
SOUND_PREFIX = "/usr/share/freeswitch/sounds/en/us/callie"
_RATE_FOLDERS = {str(rate) for rate in RATES}

#: what a case's ``host:`` may say
HOST_KEYS = {
    "missing_files",
    "missing_directories",
    "modules_missing",
    "say_languages",
    "tts_engines",
    "lacks_applications",
}


@dataclass
class Host:
    """What one scripted host lacks (paths relative to ``sound_prefix`` as a flow writes
    them, or absolute), and the say languages and TTS engines it has."""

    missing_files: set[str] = field(default_factory=set)
    missing_directories: set[str] = field(default_factory=set)
    modules_missing: set[str] = field(default_factory=set)
    say_languages: set[str] = field(default_factory=lambda: set(parse_interfaces(RECORDED_SAY, "say")))
    tts_engines: set[str] = field(default_factory=lambda: set(parse_interfaces(RECORDED_INTERFACES, "speech")))
    lacks: set[str] = field(default_factory=set)  # applications (show application)
    sound_prefix: str = SOUND_PREFIX
    used: set[tuple[str, str]] = field(default_factory=set)  # ("file" | "directory", entry) that failed a step

    @classmethod
    def from_case(cls, spec: dict | None, missing: list | None = None, lacks: tuple = ()) -> Host:
        spec = spec or {}
        host = cls(
            missing_files={str(p) for p in (spec.get("missing_files") or [])} | {str(p) for p in missing or []},
            missing_directories={str(d).rstrip("/") for d in spec.get("missing_directories") or []},
            modules_missing={str(m) for m in spec.get("modules_missing") or []},
            lacks={str(a) for a in spec.get("lacks_applications") or []} | set(lacks),
        )
        if "say_languages" in spec:
            host.say_languages = {str(x) for x in spec["say_languages"] or []}
        if "tts_engines" in spec:
            host.tts_engines = {str(x) for x in spec["tts_engines"] or []}
        return host

    def absolute(self, path: str) -> str:
        return path if path.startswith("/") else f"{self.sound_prefix}/{path}"

    # -- what a step finds ------------------------------------------------------------------
    def file_missing(self, path: str) -> bool:
        """Whether FreeSWITCH finds no file at ``path`` (as played, or absolute): one the
        case names (in any of its sample-rate folders), or one under a missing folder."""
        path = self.absolute(path)
        folder, name = posixpath.split(path)
        if posixpath.basename(folder) in _RATE_FOLDERS:  # mod_sndfile's dir/8000/name
            path = posixpath.join(posixpath.dirname(folder), name)
        for missing in self.missing_files:
            if self.absolute(missing) == path:
                self.used.add(("file", missing))
                return True
        return self.directory_missing(posixpath.dirname(path))

    def directory_missing(self, folder: str) -> bool:
        folder = self.absolute(folder).rstrip("/")
        for missing in self.missing_directories:
            gone = self.absolute(missing)
            if folder == gone or folder.startswith(gone + "/"):
                self.used.add(("directory", missing))
                return True
        return False

    def exists(self, path: str) -> bool:
        """``api file_exists``: a file or a folder."""
        path = self.absolute(path).rstrip("/")
        if self.directory_missing(path):
            return False
        return not (posixpath.splitext(path)[1] and self.file_missing(path))

    def module_loaded(self, module: str) -> bool:
        """``api module_exists``: a say module is loaded with its language."""
        if module.startswith("mod_say_"):
            return module[8:] in self.say_languages and module not in self.modules_missing
        return module not in self.modules_missing

    # -- what it answers -------------------------------------------------------------------
    def show_application(self) -> str:
        """The recorded host's list (api_capabilities), less what this host lacks."""
        if not self.lacks:
            return RECORDED_APPLICATIONS
        lines = RECORDED_APPLICATIONS.splitlines(keepends=True)
        return "".join(line for line in lines if line.split(",", 1)[0] not in self.lacks)

    def show_say(self) -> str:
        rows = [f"say,{lang},mod_say_{lang}\n" for lang in sorted(self.say_languages)]
        return "type,name,ikey\n" + "".join(rows) + f"\n{len(rows)} total.\n"

    def show_interfaces(self) -> str:
        """``show interfaces`` as recorded, its say and speech rows this host's."""
        lines = RECORDED_INTERFACES.split("\n")
        head, rows = lines[0], [line for line in lines[1:] if line.count(",") >= 2]
        rows = [r for r in rows if not r.startswith(("say,", "speech,"))]
        rows += [f"say,{lang},mod_say_{lang}" for lang in self.say_languages]
        rows += [f"speech,{engine},mod_{engine}" for engine in self.tts_engines]
        rows.sort()
        return "\n".join([head] + rows) + f"\n\n{len(rows)} total.\n"

    def api(self, line: str) -> str | None:
        """The answer to an ``api`` line preflight asks (None: not one of those)."""
        word, _, arg = line[4:].partition(" ")
        if word == "file_exists":
            return "true" if self.exists(arg) else "false"
        if word == "module_exists":
            return "true" if self.module_loaded(arg) else "false"
        if line == "api show application":
            return self.show_application()
        if line == "api show say":
            return self.show_say()
        if line == "api show interfaces speech":
            return self.show_interfaces()
        return None
