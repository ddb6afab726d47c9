"""The token an originated call carries: which flow it runs, with which variables, until when.

``run.py originate`` and ``POST /calls`` start a call with ``bgapi originate`` and let one
channel variable, :data:`VARIABLE`, travel through FreeSWITCH: ``1.`` then compact JSON as
base64url (:mod:`flowengine.quoting.opaque`) then an HMAC. Nothing else of the call's data is
on the originate line: originate splits its line on blanks and quotes (mod_commands.c,
originate_function: switch_separate_string) and its ``{…}`` block on ``,`` with its own
quoting and ``ARRAY::`` rules (switch_event_create_brackets), so values such as
``Dr. O'Brien, 3rd floor`` or ``ARRAY::a|:b`` would not arrive as they were sent.
base64url has no character any of those passes reads.

The token is bound to the channel: it names the UUID the originate gives the new channel
(``origination_uuid``, switch_ivr_originate.c), so a token copied onto another call (whose
UUID FreeSWITCH chose) is refused, and it is signed with the key only the engine and the
originating side hold (:func:`signature`, the failover checkpoint's mechanism with its own
purpose in the MAC, so that one can never pass for the other). What it carries is call data:
read with bounds, each value a plain ``str`` (docs/originate.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ..quoting.opaque import opaque, unopaque

#: the channel variable the token travels in (one per originated call)
VARIABLE = "flowengine_originate"
#: the channel variable the engine sets when the flow ends: how it ended
#: (:class:`~flowengine.runtime.result.CallResult`), read from CHANNEL_HANGUP_COMPLETE
RESULT_VARIABLE = "flowengine_result"
#: the channel variable the engine sets with its first command on a call its token routed
#: (the flow's name): the token routes a channel once (docs/originate.md, rule 5)
ROUTED_VARIABLE = "flowengine_routed"
#: the format written; a token of any other version is refused
VERSION = 1
#: the most characters a token may have: it rides on every event of the call
MAX_CHARS = 2048
#: bounds on what a token may carry
MAX_VARS = 32
MAX_NAME = 64
MAX_VALUE = 1024
#: a variable's name: what a flow's template can name
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: a channel UUID as originate takes it in ``origination_uuid``
UUID = re.compile(r"[0-9a-fA-F-]{8,64}")

_PREFIX = f"{VERSION}."
#: what the MAC covers besides the text: a token's signature is no checkpoint's
_PURPOSE = "flowengine originate\n"


class Refused(StrEnum):
    """Why a token was not honoured (a call then routes by its destination number)."""

    MALFORMED = "malformed"
    VERSION = "version"
    SIGNATURE = "signature"  # not signed with this engine's key
    CHANNEL = "channel"  # signed for another channel (copied)
    EXPIRED = "expired"
    DIRECTION = "direction"  # on a call FreeSWITCH did not originate (Call-Direction inbound)
    NO_KEY = "no key"  # the engine has no originate key: no token is honoured
    FLOW = "flow"  # names a flow originate may not start (direction: inbound)
    ROUTED = "routed"  # its flow ran on this channel already (routed, or its result there): transferred back


class TokenRefused(Exception):
    def __init__(self, reason: Refused, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class TokenTooBig(ValueError):
    """The flow's variables do not fit in one token (:data:`MAX_CHARS`)."""


@dataclass(frozen=True)
class Ticket:
    """What a token says: the flow, its variables (call data), the channel, the expiry."""

    flow: str
    uuid: str
    expires: float
    vars: dict[str, str] = field(default_factory=dict)
    nonce: str = ""


def signature(key: bytes, text: str) -> str:
    """HMAC-SHA256 of the token's text, 128 bits as base64url. The text names the channel
    (its UUID), so the signature holds for that channel alone."""
    mac = hmac.new(key, (_PURPOSE + text).encode(), hashlib.sha256).digest()[:16]
    return opaque(mac)


#: characters of a signature as :func:`signature` writes it (16 bytes as base64url)
SIGNATURE_CHARS = 22
_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def same_signature(given: str, expected: str) -> bool:
    """Whether the signature read from a channel, ``given`` (call data: any text), is
    ``expected``: its shape first (:data:`SIGNATURE_CHARS` base64url characters), then a
    constant-time comparison of bytes. ``hmac.compare_digest`` raises TypeError on a ``str``
    with a character outside ASCII: a channel variable holding one must be refused, not
    end the call with an internal error."""
    if not isinstance(given, str) or len(given) != SIGNATURE_CHARS or not _BASE64URL.issuperset(given):
        return False
    return hmac.compare_digest(given.encode("ascii"), expected.encode("ascii"))


def not_utf8(text: str) -> int | None:
    """Where ``text`` holds a character UTF-8 cannot carry (a lone surrogate: JSON reads
    ``"\\ud800"`` as one, Python's command line an undecodable byte), None when it has none.
    Such a text has no bytes to send: it would fail where it is encoded, far from where it came."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def check_vars(values: Mapping[str, object]) -> dict[str, str]:
    """The variables as a token carries them, or ValueError naming the first that cannot
    travel: at most :data:`MAX_VARS`, names a template can use, values of at most
    :data:`MAX_VALUE` characters (any characters the token can carry opaquely: Unicode text
    has a UTF-8 form, a lone surrogate, such as JSON's ``"\\ud800"`` or an undecodable byte
    of a command line, has none)."""
    if len(values) > MAX_VARS:
        raise ValueError(f"{len(values)} variables: at most {MAX_VARS} travel with a call")
    out: dict[str, str] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ValueError(f"variable name {str(name)[:80]!r}: letters, digits and _, not starting with a digit")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"variable {name}: a text or a number, not {type(value).__name__}")
        text = str(value)
        if len(text) > MAX_VALUE:
            raise ValueError(f"variable {name}: {len(text)} characters, at most {MAX_VALUE}")
        where = not_utf8(text)
        if where is not None:
            raise ValueError(
                f"variable {name}: character {where + 1} is {text[where]!r}, a lone surrogate (a byte that was not "
                "UTF-8, or a JSON \\u escape without its pair), which no UTF-8 text holds"
            )
        out[name] = text
    return out


def issue(key: bytes, flow: str, values: Mapping[str, object], uuid: str, expires: float) -> str:
    """The token for the channel ``uuid`` (given to originate as ``origination_uuid``),
    running ``flow`` with ``values`` (:func:`check_vars`), honoured until ``expires``
    (seconds since the epoch). :class:`TokenTooBig` when it would be over :data:`MAX_CHARS`."""
    if not NAME.fullmatch(flow or ""):
        raise ValueError(f"flow name {flow[:80]!r} is not a flow's name")
    if not UUID.fullmatch(uuid):
        raise ValueError(f"{uuid[:80]!r} is not a channel UUID")
    state = {"f": flow, "u": uuid, "x": int(expires), "n": secrets.token_hex(8), "v": check_vars(values)}
    text = _PREFIX + opaque(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode())
    token = f"{text}.{signature(key, text)}"
    if len(token) > MAX_CHARS:
        raise TokenTooBig(f"the variables make a token of {len(token)} characters: at most {MAX_CHARS} travel")
    return token


def read(token: str, key: bytes | None, uuid: str, now: float) -> Ticket:
    """The ticket ``token`` holds for the channel ``uuid`` at ``now``, or
    :class:`TokenRefused`: signature first (nothing unsigned is parsed further than its
    shape), then the channel, then the expiry."""
    if key is None:
        raise TokenRefused(Refused.NO_KEY, "the engine has no originate key")
    if not isinstance(token, str) or len(token) > MAX_CHARS:
        raise TokenRefused(Refused.MALFORMED, f"not a text of at most {MAX_CHARS} characters")
    text, dot, mac = token.rpartition(".")
    if not dot or text.count(".") != 1:
        raise TokenRefused(Refused.MALFORMED, "not version.body.signature")
    version = text.partition(".")[0]
    if not (version.isascii() and version.isdigit()) or len(version) > 4:
        raise TokenRefused(Refused.MALFORMED, "no version")
    if int(version) != VERSION:
        raise TokenRefused(Refused.VERSION, f"version {int(version)}, this engine reads {VERSION}")
    if not same_signature(mac, signature(key, text)):
        raise TokenRefused(Refused.SIGNATURE, "not signed with this engine's originate key")
    try:
        state = json.loads(unopaque(text.partition(".")[2], MAX_CHARS).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise TokenRefused(Refused.MALFORMED, str(exc)[:80]) from None
    ticket = _ticket(state)
    if ticket.uuid.lower() != (uuid or "").lower():
        raise TokenRefused(Refused.CHANNEL, "signed for another channel")
    if ticket.expires <= now:
        raise TokenRefused(Refused.EXPIRED, f"expired {now - ticket.expires:.0f} s ago")
    return ticket


def _ticket(state: object) -> Ticket:
    if not isinstance(state, dict):
        raise TokenRefused(Refused.MALFORMED, "not an object")
    flow, uuid, expires, nonce, values = (state.get(k) for k in ("f", "u", "x", "n", "v"))
    if not isinstance(flow, str) or not NAME.fullmatch(flow):
        raise TokenRefused(Refused.MALFORMED, "no flow name")
    if not isinstance(uuid, str) or not UUID.fullmatch(uuid):
        raise TokenRefused(Refused.MALFORMED, "no channel UUID")
    if type(expires) is not int:
        raise TokenRefused(Refused.MALFORMED, "no expiry")
    if not isinstance(values, dict):
        raise TokenRefused(Refused.MALFORMED, "no variables")
    try:
        kept = check_vars(values)
    except ValueError as exc:
        raise TokenRefused(Refused.MALFORMED, str(exc)) from None
    # plain str, never a Text: to the encoders every value is call data
    return Ticket(flow, uuid, float(expires), {k: str(v) for k, v in kept.items()}, str(nonce or ""))
