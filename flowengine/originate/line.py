"""The ``originate`` command line: what goes where, each value encoded for where it lands.

originate_function (mod_commands.c) splits its argument with switch_separate_string on
blanks, honouring ``'`` and ``\\`` only: the socket application's argument has blanks, so it
is quoted whole (``'&socket(host:port async full)'``; unquoted, the application gets
``host:port`` alone and the socket is static and single-channel, as
originate_socket_unquoted_session recorded). The ``{…}`` block (switch_event_create_brackets)
holds only values with no character its parser or the command line reads: the channel's
UUID, the token (base64url), a number, a timeout, and the caller ID name cleaned as a block's
value (:func:`flowengine.quoting.variable_value`). The dial string goes through the
dial-string rules (:func:`flowengine.quoting.target`): from the API it is call data after an
allowed prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UnsafeValue
from ..quoting import target, variable_value, whole
from ..quoting.text import data, join, literal
from ..runtime.call_token import not_utf8

# Request data (a caller ID, a dial string's rest) meets only these patterns: each one character
# class, repeated or searched for, which Python's engine runs in linear time (no backtracking to
# explode); the caller ID is split with string methods (:func:`caller_id`).
#: a host the socket application can connect to, as one word: a name or an IPv4 address
HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})")
#: a caller ID number: what a number or SIP user part holds
NUMBER = re.compile(r"[A-Za-z0-9+*#._-]{1,32}")
#: characters no dial string on the command line may hold (blanks and quoting split it, a
#: block of its own would follow ours)
_NOT_IN_DIAL = re.compile(r"[\s'\"\\{}]")
MAX_DIAL = 512
MAX_CALLER_NAME = 80
#: the longest caller ID text taken (a name of :data:`MAX_CALLER_NAME`, a number, blanks)
MAX_CALLER_ID = 256


def utf8(text: str, what: str) -> str:
    """``text``, or UnsafeValue naming ``what`` when it holds a character UTF-8 cannot
    carry (:func:`~flowengine.runtime.call_token.not_utf8`): such a text cannot be written to
    FreeSWITCH, and would fail only when its command is encoded, in the greenlet sending
    every call, long after the request that brought it was answered."""
    where = not_utf8(text)
    if where is not None:
        raise UnsafeValue(
            f"{what}: character {where + 1} is {text[where]!r}, a lone surrogate (a byte that was not "
            "UTF-8, or a JSON \\u escape without its pair), which no UTF-8 text holds"
        )
    return text


@dataclass(frozen=True)
class CallerId:
    name: str | None
    number: str | None


def caller_id(text: str | None) -> CallerId:
    """``"Clinic <5550100>"``, ``"5550100"`` or ``"<5550100>"``: the name (cleaned as a
    ``{…}`` value: what would end the pair or block, a ``$``, a quote, a control is a
    blank) and the number (refused unless a plain number). Request data: its length is
    bounded first and it is read with string methods in one pass (a backtracking pattern
    such as ``\\s*(.*?)\\s*<…>`` costs cubic time on a run of blanks)."""
    if not text:
        return CallerId(None, None)
    if len(text) > MAX_CALLER_ID:
        raise UnsafeValue(f"the caller ID has {len(text)} characters: at most {MAX_CALLER_ID}")
    stripped = utf8(text, "the caller ID").strip()
    name: str | None = None
    number = stripped
    if stripped.endswith(">"):
        opened = stripped.rfind("<")
        inside = stripped[opened + 1 : -1]
        if opened >= 0 and "<" not in inside:
            name, number = stripped[:opened].strip(), inside
    if number and not NUMBER.fullmatch(number):
        raise UnsafeValue(f"caller ID number {number[:40]!r}: digits, letters and + * # . _ - only")
    cleaned = None
    if name:
        value = str(variable_value(data(name, "the caller ID name"))).replace("$", " ")
        cleaned = " ".join(value.split())[:MAX_CALLER_NAME] or None
    return CallerId(cleaned, number or None)


def dial_string(to: str, allow: tuple[str, ...] | None = None) -> str:
    """The dial string for ``to``. ``allow`` None: the operator's own (``run.py
    originate --to``), checked as the author's; else ``to`` must start with one of the
    prefixes, the rest is call data (a number: :func:`~flowengine.quoting.target`)."""
    if not to or len(to) > MAX_DIAL:
        raise UnsafeValue(f"the dial string is empty or longer than {MAX_DIAL} characters")
    utf8(to, "the dial string")
    if allow is None:
        text = literal(to)
    else:
        prefix = max((p for p in allow if to.startswith(p)), key=len, default=None)
        if prefix is None:
            raise UnsafeValue(f"{to[:60]!r} does not start with a prefix --originate-allow allows")
        text = join([literal(prefix), data(to[len(prefix) :], "the requested 'to'")])
    bad = _NOT_IN_DIAL.search(str(text))
    if bad is not None:
        raise UnsafeValue(
            f"dial string {to[:60]!r}: {bad.group()!r} would split or quote originate's command line, "
            "or open a second variable block"
        )
    return str(whole(target(text, "originate 'to'")))


def socket_app(host: str, port: int) -> str:
    """The application originate runs on answer, quoted as one word."""
    if not HOST.fullmatch(host) or not 0 < port < 65536:
        raise UnsafeValue(f"--engine {host}:{port}: a host name or IPv4 address and a port")
    return f"'&socket({host}:{port} async full)'"


def originate_arg(dial: str, uuid: str, variable: str, token: str, caller: CallerId, timeout: float, app: str) -> str:
    """``{vars}DIAL APP``: the argument of ``bgapi originate``. The first word is quoted
    when the caller ID name has blanks (the quotes are removed by switch_separate_string;
    the name holds no quote or backslash of its own)."""
    pairs = [
        ("origination_uuid", uuid),
        (variable, token),
        ("originate_timeout", str(max(1, round(timeout)))),
        ("ignore_early_media", "true"),
    ]
    if caller.number:
        pairs.append(("origination_caller_id_number", caller.number))
    if caller.name:
        pairs.append(("origination_caller_id_name", caller.name))
    first = "{" + ",".join(f"{k}={v}" for k, v in pairs) + "}" + dial
    if " " in first:
        first = f"'{first}'"
    return f"{first} {app}"
