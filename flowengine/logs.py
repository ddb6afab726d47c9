"""Log output: readable lines by default, or one JSON object per line for log shippers."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

#: what the engine attaches to its step and call-end lines (``extra=``)
FIELDS = ("call", "flow", "step", "outcome", "ms", "caller", "destination", "cause", "duration")


#: C0 and C1 controls, DEL and the Unicode line and paragraph separators: anything a
#: terminal or a log shipper may take as the end of a line (or as a colour escape)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """``\n`` as ``\\x0a`` and so on: call data (a URL-encoded newline in a caller ID)
    cannot start a forged log line."""
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text
    )


class TextFormatter(logging.Formatter):
    """One line per record: controls in the message are escaped; a traceback follows on
    lines of its own, each indented, so none can pass for a log line."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info:
            text = self.formatException(record.exc_info)
            line += "".join("\n    " + escape_controls(part) for part in text.split("\n"))
        return line


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg"}`` plus the call's fields when the line has them."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        # valid JSON either way; escaped so a shipper that splits on U+2028 keeps one record
        return json.dumps(out, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def configure(level: str, fmt: str = "text", tag: str = "") -> None:
    """``tag`` (a worker's number) goes in every line when several processes share a log."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(f"%(asctime)s %(levelname)s {tag}%(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
