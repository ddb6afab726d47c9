"""Every failure flowengine reports is one of these types.

Operators read these messages in logs, so each says what happened and, where it can,
what to do about it. Callers catch by type, never by message text.
"""

from __future__ import annotations


class FlowengineError(Exception):
    """Base of every error flowengine raises on purpose."""


class FlowError(FlowengineError):
    """A flow file is wrong: the message starts with ``file:line:col`` and names the rule.

    ``problems`` lists every problem found (one here; a whole set when loading many files).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.problems = [message]


class ProtocolError(FlowengineError):
    """The peer sent bytes that are not Event Socket protocol, or broke a size limit.

    Ends that one call: after garbage there is no way to find the next frame again.
    """


class UnsafeValue(FlowengineError, ValueError):
    """A value would have changed the shape of a command on the wire (CR, LF or NUL).

    Raised before a single byte is written: caller ID names, digits and template
    output reach commands, and FreeSWITCH would read an embedded newline as a new
    header or a new command.
    """


class CallGone(FlowengineError):
    """The call ended (hangup, disconnect notice, EOF or reset) while something waited on it.

    ``cause`` is FreeSWITCH's hangup cause when it told us one (``NORMAL_CLEARING``,
    ``ORIGINATOR_CANCEL`` …), else a description of how the connection ended.
    """

    def __init__(self, cause: str, detail: str = "") -> None:
        super().__init__(cause, detail)
        self.cause = cause
        self.detail = detail

    def __str__(self) -> str:
        # The cause may be learned after the error was made (a linger notice can come
        # before CHANNEL_HANGUP), so the text is built when read.
        return f"call gone: {self.cause}" + (f" ({self.detail})" if self.detail else "")


class CommandTimeout(FlowengineError):
    """A reply or an application's completion did not arrive in time.

    The late answer, if it ever comes, is discarded: it can never be taken as the answer
    to a later command.
    """


class CommandFailed(FlowengineError):
    """FreeSWITCH answered a command with ``-ERR``."""

    def __init__(self, command: str, reply: str) -> None:
        self.command = command
        self.reply = reply
        super().__init__(f"{command!r} was refused by FreeSWITCH: {reply}")
