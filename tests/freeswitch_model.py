"""A model of how FreeSWITCH 1.10 parses what flowengine sends, written from its source.

It is the judge of the property tests in tests/test_quoting_properties.py and shares no
code with flowengine.quoting. Characters travel with their origin ("author", "call", "fs"
for values FreeSWITCH substitutes, "engine" for what the encoder inserted), so a test can
ask: did any expansion, API call, dial target or argument boundary involve the call?

- :func:`expand`: ``switch_event_expand_headers_check`` (src/switch_event.c) /
  ``switch_channel_expand_variables_check`` (src/switch_channel.c), one pass.
- :func:`separate_blank`: ``switch_separate_string(buf, ' ', …)`` (src/switch_utils.c).
- :func:`parse_dial_string`: ``switch_ivr_enterprise_originate`` / ``switch_ivr_originate``
  (src/switch_ivr_originate.c) and ``switch_event_create_brackets`` (src/switch_event.c).
- :func:`url_encode` / :func:`url_decode_strict`: ``switch_url_encode`` (src/switch_utils.c)
  and a reading of what it wrote that it gives back unchanged (:func:`is_reading`).
- :class:`Headers` / :func:`store_variable`: ``switch_event_base_add_header`` and
  ``switch_event_add_array`` (src/switch_event.c): the ``ARRAY::`` rule, for every header of a
  command and every channel variable (switch_channel_set_variable).
- :func:`read_command` / :func:`sendmsg_argument`: mod_event_socket's ``read_packet`` (line
  ends, ``content-length``, the body as a C string) and ``switch_ivr_parse_event``'s
  argument (the header, else a ``text/plain`` body).
- :func:`scoped_variables`, :func:`set_application`, :func:`speak_parts`: what
  switch_core_session_exec, base_set and speak_function make of an argument.
- :func:`playback_file`: playback_function's ``@@`` sample offset.
- :func:`transfer_application`, :func:`dialplans`, :func:`inline_applications`,
  :func:`routed_applications`: transfer_function, switch_core_standard_on_routing and
  inline_dialplan_hunt (mod_dptools.c); :func:`session_transfer`: the dialplan and context
  switch_ivr_session_transfer (src/switch_ivr.c) picks, ``force_transfer_*`` included.
- :func:`variable_use`, :func:`hook_command`, :func:`plays`: the channel variables FreeSWITCH
  runs, routes by or plays (switch_types.h; switch_channel.c api_on / execute_on, api_hook …).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Chars = list[tuple[str, str]]          # (character, origin)


def chars(text: str, origin: str) -> Chars:
    return [(c, origin) for c in text]


def text_of(cs: Chars) -> str:
    return "".join(c for c, _ in cs)


@dataclass
class Expansion:
    kind: str                # "var", "global" or "api"
    name: str
    args: str
    origins: set[str]        # origins of every character from the '$' to the closing '}'


def has_escaped_data(s: str) -> bool:
    """switch_utils.h, switch_string_has_escaped_data: a backslash before \\ n s t or '."""
    i = s.find("\\")
    while i != -1:
        if i + 1 < len(s) and s[i + 1] in "\\nst'":
            return True
        i = s.find("\\", i + 1)
    return False


def var_check_const(s: str) -> bool:
    """switch_utils.h, switch_string_var_check_const: a '$' then any backslashes then '{'."""
    for i, c in enumerate(s):
        if c == "$":
            j = i + 1
            while j < len(s) and s[j] == "\\":
                j += 1
            if j < len(s) and s[j] == "{":
                return True
    return False


def expand(cs: Chars, variables: Callable[[str], str | None], found: list[Expansion],
           recur: int = 0) -> Chars:
    """One expansion pass; every ``${…}`` met is appended to ``found``."""
    s = text_of(cs)
    if recur > 100 or not s or not (var_check_const(s) or has_escaped_data(s)):
        return cs
    out: Chars = []
    n = len(cs)
    p = 0
    while p < n:
        nv = False
        vtype = 0
        if s[p] == "\\" and p + 1 < n:
            if s[p + 1] == "$":
                nv = True
                p += 1
                if p + 1 < n and s[p + 1] == "$":
                    p += 1
            elif s[p + 1] == "'":
                p += 2
                continue
            elif s[p + 1] == "\\":
                out.append(cs[p])
                p += 2
                continue
        if s[p] == "$" and not nv:
            glob = False
            if p + 1 < n and s[p + 1] == "$":
                p += 1
                glob = True
            if p + 1 < n and s[p + 1] == "{":
                vtype = 3 if glob else 1
            else:
                nv = True
        if nv:
            out.append(cs[p])
            p += 1
            continue
        if vtype:
            dollar = p - (1 if vtype == 3 else 0)
            q = p + 2                         # after "${"
            br, e = 1, q
            close = None
            while e < n:
                if br == 1 and s[e] == "}":
                    close = e
                    e += 1
                    break
                if e != q and s[e] == "{":
                    br += 1
                elif br > 1 and s[e] == "}":
                    br -= 1
                e += 1
            name_cs = cs[q:close if close is not None else n]
            origins = {o for _, o in cs[dollar:(close + 1) if close is not None else n]}
            name = text_of(name_cs)
            cut = next((i for i, c in enumerate(name) if c in " ("), None)
            if cut is not None:
                fname, rest = name[:cut].rstrip(" "), name[cut + 1:]
                if name[cut] == "(":
                    depth, j = 1, 0
                    while j < len(rest):
                        if rest[j] == "(":
                            depth += 1
                        elif rest[j] == ")":
                            depth -= 1
                            if depth == 0:
                                rest = rest[:j]
                                break
                        j += 1
                expand(chars(fname, "author"), variables, found, recur + 1)
                found.append(Expansion("api", fname, rest, origins))
                value = f"<api {fname}>"
            else:
                inner = expand(name_cs, variables, found, recur + 1)
                vname = text_of(inner).split(":")[0].split("[")[0]
                kind = "global" if vtype == 3 else "var"
                found.append(Expansion(kind, vname, "", origins))
                value = variables(vname) or ""
                # a variable's value is expanded again (switch_channel.c): the model does too
                out.extend(expand(chars(value, "fs"), variables, found, recur + 1))
                value = ""
            out.extend(chars(value, "fs"))
            p = e
            if p < n:
                if s[p] == "$":
                    continue                 # looked at again (the C code's p--)
                out.append(cs[p])            # the character after '}' is copied as is
            p += 1
            continue
        out.append(cs[p])
        p += 1
    return out


def expand_passes(cs: Chars, passes: int, variables: Callable[[str], str | None]
                  ) -> tuple[Chars, list[Expansion]]:
    """The core's pass (switch_core_session_exec), then ``set``'s own (base_set) if 2."""
    found: list[Expansion] = []
    for _ in range(passes):
        cs = expand(cs, variables, found)
    return cs, found


# -- switch_separate_string ---------------------------------------------------------------
def _cleanup(cs: Chars) -> Chars:
    """cleanup_separated_string: quotes removed, escapes (\\' \\" \\\\ \\n \\t \\s …) undone,
    leading and trailing blanks cut."""
    out: Chars = []
    i = 0
    while i < len(cs) and cs[i][0] == " ":
        i += 1
    end = 0
    inside = False
    while i < len(cs):
        c, o = cs[i]
        if c == "\\" and i + 1 < len(cs):
            e = cs[i + 1][0]
            table = {"n": "\n", "r": "\r", "t": "\t", "s": " "}
            if e in "'\"\\" or e in table:
                out.append((table.get(e, e), cs[i + 1][1]))
                end = len(out)
                i += 2
                continue
        if c == "'" and (inside or any(x == "'" for x, _ in cs[i + 1:])):
            inside = not inside               # a lone quote stays (cleanup_separated_string)
            end = len(out)
        else:
            out.append((c, o))
            if c != " " or inside:
                end = len(out)
        i += 1
    return out[:end]


def separate_blank(cs: Chars, arraylen: int) -> list[Chars]:
    """switch_separate_string(buf, ' ', argv, arraylen); the ``^^X`` prefix switches to X."""
    s = text_of(cs)
    if s.startswith("^^") and len(s) > 3:
        return [_cleanup(part) for part in _split_char(cs[3:], s[2], arraylen)]
    parts: list[Chars] = []
    i, n = 0, len(cs)
    inside = False
    while i < n and len(parts) < arraylen:
        start = i
        if len(parts) == arraylen - 1:
            parts.append(cs[start:])
            break
        while i < n and cs[i][0] == " ":
            i += 1
        while i < n:
            c = cs[i][0]
            if c == "\\":
                i += 2
                continue
            if c == "'":
                inside = not inside
            elif c == " " and not inside:
                break
            i += 1
        parts.append(cs[start:i])
        while i < n and cs[i][0] == " ":
            i += 1
    return [_cleanup(p) for p in parts if p or True]


def _split_char(cs: Chars, delim: str, arraylen: int) -> list[Chars]:
    parts: list[Chars] = [[]]
    inside = False
    i = 0
    while i < len(cs):
        c = cs[i][0]
        if c == "\\" and i + 1 < len(cs):
            parts[-1] += cs[i:i + 2]
            i += 2
            continue
        if c == "'" and (inside or any(x == "'" for x, _ in cs[i + 1:])):
            inside = not inside
        if c == delim and not inside and len(parts) < arraylen:
            parts.append([])
        else:
            parts[-1].append(cs[i])
        i += 1
    return parts


# -- dial strings -------------------------------------------------------------------------
@dataclass
class Leg:
    endpoint: Chars
    variables: list[tuple[str, Chars]] = field(default_factory=list)


@dataclass
class DialString:
    variables: list[tuple[str, Chars]] = field(default_factory=list)   # {…} for every leg
    legs: list[Leg] = field(default_factory=list)


def _block(cs: Chars, opening: str, closing: str) -> tuple[list[tuple[str, Chars]], Chars]:
    """A leading ``{…}`` (or ``[…]``, ``<…>``): its pairs and what follows it. Nesting is
    counted as switch_event_create_brackets / the originate code do (the first matching
    closing bracket at depth 0 ends it)."""
    if not cs or cs[0][0] != opening:
        return [], cs
    depth, i = 0, 0
    while i < len(cs):
        if cs[i][0] == opening:
            depth += 1
        elif cs[i][0] == closing:
            depth -= 1
            if depth == 0:
                break
        i += 1
    body, rest = cs[1:i], cs[i + 1:]
    delim = ","
    if len(body) > 2 and body[0][0] == "^" and body[1][0] == "^":     # ^^X: X separates the pairs
        delim, body = body[2][0], body[3:]
    pairs = []
    for part in _split_char(body, delim, 1024):
        # each pair is one switch_separate_string word (cleaned up: quotes gone), then split
        # once at its first '=' outside quotes (switch_separate_string(…, '=', …, 2))
        halves = _split_char(_cleanup(part), "=", 2)
        if len(halves) == 2:
            pairs.append((text_of(_cleanup(halves[0])), _cleanup(halves[1])))
        elif text_of(part).strip():
            pairs.append((text_of(part), []))     # not set by FreeSWITCH; kept so a test sees it
    return pairs, rest


def _split_on(cs: Chars, sep: str) -> list[Chars]:
    out: list[Chars] = [[]]
    i = 0
    depth = 0
    while i < len(cs):
        c = cs[i][0]
        if c in "[{<":
            depth += 1
        elif c in "]}>":
            depth = max(0, depth - 1)
        if depth == 0 and text_of(cs[i:i + len(sep)]) == sep:
            out.append([])
            i += len(sep)
            continue
        out[-1].append(cs[i])
        i += 1
    return out


def separate(cs: Chars, delim: str) -> list[Chars]:
    """switch_separate_string(buf, delim, …) with a character delimiter, cleaned up."""
    s = text_of(cs)
    if s.startswith("^^") and len(s) > 3:
        delim, cs = s[2], cs[3:]
    return [_cleanup(p) for p in _split_char(cs, delim, 128)]


def _strip(cs: Chars) -> Chars:
    while cs and cs[0][0] == " ":
        cs = cs[1:]
    return cs


def parse_dial_string(cs: Chars) -> DialString:
    """``:_:`` anywhere makes enterprise groups (plain split); each group: ``<…>`` and
    ``{…}`` blocks at its front, then ``|`` and ``,`` (switch_separate_string, so escapes,
    quotes and ``^^`` apply; commas inside ``[…]`` are protected), ``[…]`` per leg."""
    result = DialString()
    groups = [cs]
    if ":_:" in text_of(cs):
        # switch_ivr_enterprise_originate: leading <...> blocks, then a plain split on ":_:"
        # (switch_separate_string_string: no brackets, quotes or escapes honoured)
        cs = _strip(cs)
        while cs and cs[0][0] == "<":
            pairs, cs = _block(cs, "<", ">")
            result.variables.extend(pairs)
        groups, rest = [], cs
        while ":_:" in text_of(rest):
            at = text_of(rest).index(":_:")
            groups.append(rest[:at])
            rest = rest[at + 3:]
        groups.append(rest)
    for group in groups:
        group = _strip(group)
        group_vars: list[tuple[str, Chars]] = []
        while group and group[0][0] in "<{":
            opening = group[0][0]
            pairs, group = _block(group, opening, ">" if opening == "<" else "}")
            (group_vars if opening == "<" else result.variables).extend(pairs)
        for seq in separate(_strip(group), "|"):
            for leg_cs in _split_on(seq, ","):      # commas inside [...] are protected
                leg_vars, endpoint = _block(_cleanup(_strip(leg_cs)), "[", "]")
                result.legs.append(Leg(endpoint, group_vars + leg_vars))
    return result


# -- event headers: switch_url_encode and how a value is read back ---------------------------
#: SWITCH_URL_UNSAFE (src/include/switch_utils.h)
URL_UNSAFE = "\r\n #%&+:;<=>?@[\\]^`{|}\""
UPPER_HEX = "0123456789ABCDEF"


def url_encode(value: str) -> str:
    """switch_url_encode (src/switch_utils.c, switch_url_encode_opt without double_encode):
    per UTF-8 byte, ``%XX`` for a control byte, one from 0x7F (``*p < ' ' || *p > '~'`` on a
    signed char) or one of URL_UNSAFE; a ``%`` with two uppercase hex digits after it is copied."""
    data = value.encode("utf-8", "surrogatepass")
    out = []
    for i, b in enumerate(data):
        if b == ord("%") and i + 2 < len(data) and chr(data[i + 1]) in UPPER_HEX and chr(data[i + 2]) in UPPER_HEX:
            out.append("%")
        elif b < 0x20 or b > 0x7E or chr(b) in URL_UNSAFE:
            out.append(f"%{b:02X}")
        else:
            out.append(chr(b))
    return "".join(out)


def url_decode_strict(wire: str) -> str:
    """A reading of ``wire`` that switch_url_encode gives back as ``wire``: an escape is
    decoded only when the encoder writes it for a byte, never for a ``%`` it copied."""
    out = bytearray()
    i = 0
    raw = wire.encode("utf-8", "surrogatepass")
    while i < len(raw):
        esc = raw[i:i + 3]
        if len(esc) == 3 and esc[:1] == b"%" and all(chr(c) in UPPER_HEX for c in esc[1:]):
            b = int(esc[1:], 16)
            encoded = b < 0x20 or b > 0x7E or chr(b) in URL_UNSAFE
            copied_percent = b == ord("%") and len(raw) > i + 4 and all(chr(c) in UPPER_HEX for c in raw[i + 3:i + 5])
            if encoded and not copied_percent:
                out.append(b)
                i += 3
                continue
        out.append(raw[i])
        i += 1
    return out.decode("utf-8", "replace")


def is_reading(wire: str, value: str) -> bool:
    """Whether FreeSWITCH may have held ``value`` for the header text ``wire``."""
    return url_encode(value) == wire


# -- switch_event_t headers: what a value becomes when it is stored ---------------------------
class Headers:
    """switch_event_base_add_header / switch_event_add_array / switch_event_get_header
    (src/switch_event.c). An empty value removes the name and stores nothing; a value
    starting ``ARRAY::`` is an array: shorter than 8 characters nothing, else split at every
    ``|:`` and each part pushed (an empty first part stores nothing, a first part starting
    ``ARRAY::`` is split again); a pushed header reads as its element, or ``ARRAY::`` and the
    elements joined with ``|:``."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def _find(self, name: str) -> dict | None:
        return next((h for h in self.items if h["name"].lower() == name.lower()), None)

    def get(self, name: str) -> str | None:
        h = self._find(name)
        return None if h is None else h["value"]

    def add(self, name: str, value: str, push: bool = False) -> None:
        h = self._find(name) if push else None
        if h is None:
            if value == "":
                self.items = [x for x in self.items if x["name"].lower() != name.lower()]
                return
            if value.startswith("ARRAY::"):
                if len(value) >= 8:
                    for piece in value[7:].split("|:"):
                        self.add(name, piece, push=True)
                return
            h = {"name": name, "value": None, "array": None}
            self.items.append(h)
        if not push:
            h["value"] = value
            return
        if h["array"] is None:
            h["array"] = [] if h["value"] is None else [h["value"]]
        h["array"].append(value)
        h["value"] = ("ARRAY::" if len(h["array"]) > 1 else "") + "|:".join(h["array"])


def store_variable(value: str) -> str | None:
    """What switch_channel_set_variable leaves in the variable (src/switch_channel.c: the
    old one deleted, the value added with switch_event_add_header_string); None: unset."""
    h = Headers()
    h.add("var", value)
    return h.get("var")


# -- mod_event_socket's read_packet and switch_ivr_parse_event --------------------------------
@dataclass
class Received:
    command: str
    headers: Headers
    body: str | None


def read_command(wire: bytes) -> tuple[Received, bytes]:
    """One command as read_packet (mod_event_socket.c) reads it, and the bytes after it.

    Leading CR/LF skipped; the block ends at an LF after an LF with only CRs between. From
    each line start, the line runs to the first CR in the rest of the block or, with none,
    the first LF; the next line starts after the CR/LF run there. The first line is the
    command; a later one is ``name: value`` split at its first ``:`` with the value's
    leading spaces skipped, stored with switch_event_add_header_string; a line without ``:``
    is dropped; each ``content-length`` (strcasecmp) is atoi'd and that many bytes read as
    the body, a C string (cut at NUL)."""
    i = 0
    while i < len(wire) and wire[i] in b"\r\n":
        i += 1
    j, lf = i, 0
    while j < len(wire):
        if wire[j] == 10:
            lf += 1
            if lf == 2:
                break
        elif wire[j] != 13:
            lf = 0
        j += 1
    assert j < len(wire), "the command never ended"
    block, at = wire[i:j + 1], j + 1
    headers, first, body = Headers(), None, None
    pos: int | None = 0
    while pos is not None:
        rest = block[pos:].split(b"\0", 1)[0]
        cut = rest.find(b"\r") if b"\r" in rest else rest.find(b"\n")
        line = rest if cut < 0 else rest[:cut]
        if cut < 0:
            nxt = None
        else:
            nxt = pos + cut
            while nxt < len(block) and block[nxt] in b"\r\n":
                nxt += 1
        if first is None:
            first = line.decode("utf-8", "replace")
        elif b":" in line:
            name, _, value = line.partition(b":")
            name_s, value_s = name.decode("utf-8", "replace"), value.lstrip(b" ").decode("utf-8", "replace")
            headers.add(name_s, value_s)
            if name_s.lower() == "content-length":
                digits = ""
                for c in value_s.lstrip(" \t\n\v\f\r"):
                    if c.isdigit() and c.isascii() or (not digits and c in "+-"):
                        digits += c
                    else:
                        break
                length = int(digits) if digits.strip("+-") else 0
                if length > 0:
                    body = wire[at:at + length].split(b"\0", 1)[0].decode("utf-8", "replace")
                    at += length
        pos = nxt if nxt is not None and nxt < len(block) else None
    return Received(first or "", headers, body), wire[at:]


def sendmsg_argument(wire: bytes) -> tuple[str | None, str | None]:
    """(application, argument) of a ``sendmsg`` execute as switch_ivr_parse_event
    (src/switch_ivr.c) reads them: ``execute-app-arg`` as stored, else, when that is empty
    and ``content-type`` is ``text/plain`` (strcasecmp), the body."""
    command, rest = read_command(wire)
    assert rest == b"", "more than one command"
    h = command.headers
    arg = h.get("execute-app-arg")
    ctype = h.get("content-type")
    if not arg and ctype is not None and ctype.encode().lower() == b"text/plain":
        arg = command.body
    return h.get("execute-app-name"), arg


def api_line(wire: bytes) -> str:
    """The command line of an ``api`` (parse_command cuts it at its first CR or LF)."""
    command, rest = read_command(wire)
    assert rest == b""
    return command.command


# -- what an application makes of its argument ------------------------------------------------
def scoped_variables(arg: str) -> tuple[list[tuple[str, str]], str]:
    """switch_core_session_exec (src/switch_core_session.c): an expanded argument starting
    ``%[`` or ``%X[`` (X the delimiter) sets the ``[…]`` pairs as scoped variables and runs
    the application with what follows."""
    if not (arg.startswith("%[") or (len(arg) > 2 and arg[0] == "%" and arg[2] == "[")):
        return [], arg
    delim = "," if arg[1] == "[" else arg[1]
    body = arg[1:] if arg[1] == "[" else arg[2:]
    end = body.find("]")
    if end < 0:
        return [], arg
    pairs = [tuple(p.split("=", 1)) if "=" in p else (p, "") for p in body[1:end].split(delim) if p]
    return pairs, body[end + 1:]     # type: ignore[return-value]


def set_application(arg: str, variables: Callable[[str], str | None]) -> tuple[str, str | None]:
    """mod_dptools.c base_set (``set``): the core's expansion pass, then the name up to the
    first ``=`` (else ``,``), the value expanded again and stored (None: unset)."""
    cs, _ = expand_passes(chars(arg, "?"), 1, variables)
    text = text_of(cs)
    sep = text.find("=")
    if sep < 0:
        sep = text.find(",")
    if sep < 0:
        return text, None
    name, value = text[:sep], text[sep + 1:]
    if not value:
        return name, None
    value = text_of(expand(chars(value, "?"), variables, []))
    return name, store_variable(value)


def speak_parts(arg: str) -> tuple[str | None, str | None, str, list[str]]:
    """mod_dptools.c speak_function: ``switch_separate_string(arg, '|', argv, 3)`` (so a
    leading ``^^X`` changes the delimiter); one part is the text, two ``voice|text``, three
    ``engine|voice|text``, the last the unsplit rest. Then switch_core_speech_feed_tts skips
    leading spaces and reads a ``{…}`` there as parameters. (engine, voice, text, params)."""
    delim, body = "|", arg
    if arg.startswith("^^") and len(arg) > 3:
        delim, body = arg[2], arg[3:]
    parts = body.split(delim, 2)
    engine = voice = None
    if len(parts) == 3:
        engine, voice, text = parts
    elif len(parts) == 2:
        voice, text = parts
    else:
        text = parts[0]
    stripped = text.lstrip(" ")
    params: list[str] = []
    if stripped.startswith("{") and "}" in stripped:
        params = stripped[1:stripped.index("}")].split(",")
        text = stripped[stripped.index("}") + 1:]
    return engine, voice, text, params


# -- playback, transfer and the dialplans it names ------------------------------------------
def playback_file(arg: str) -> tuple[str, int]:
    """mod_dptools.c playback_function: the file is cut at the first ``@`` when another
    ``@`` follows it, and what follows is the sample to start at (atoi); (file, samples)."""
    at = arg.find("@")
    if at < 0 or arg[at + 1:at + 2] != "@":
        return arg, 0
    digits = ""
    for c in arg[at + 2:].lstrip(" \t\n\v\f\r"):
        if c.isdigit() and c.isascii() or (not digits and c in "+-"):
            digits += c
        else:
            break
    return arg[:at], int(digits) if digits.strip("+-") else 0


@dataclass
class Transfer:
    leg: str                    # "self", "-bleg" or "-both"
    flag_word: Chars            # argv[0] as compared with -bleg / -both
    extension: Chars
    dialplan: Chars | None
    context: Chars | None


def transfer_application(cs: Chars) -> Transfer:
    """mod_dptools.c transfer_function on its expanded argument: switch_separate_string(data,
    ' ', argv, 4) (cleaned up: quotes dropped), ``-bleg`` / ``-both`` (strcasecmp) in argv[0]
    shift the rest; switch_ivr_session_transfer(extension, dialplan, context)."""
    argv = separate_blank(cs, 4)
    first = argv[0] if argv else []
    leg = text_of(first).lower() if text_of(first).lower() in ("-bleg", "-both") else "self"
    rest = argv[1:] if leg != "self" else argv
    rest = rest + [None] * (3 - len(rest))        # type: ignore[list-item]
    return Transfer(leg, first, rest[0] or [], rest[1], rest[2])


def dialplans(cs: Chars) -> list[tuple[Chars, Chars | None]]:
    """switch_core_standard_on_routing (src/switch_core_state_machine.c): the dialplan string
    split on ``,`` (switch_separate_string), each ``name[:arg]`` (the first ``:``)."""
    found = []
    for part in separate(cs, ","):
        text = text_of(part)
        if ":" in text:
            k = text.index(":")
            found.append((part[:k], part[k + 1:]))
        else:
            found.append((part, None))
    return found


def inline_applications(target: Chars) -> list[tuple[Chars, Chars | None]]:
    """mod_dptools.c inline_dialplan_hunt: ``m:X:`` makes X the separator (else ``,``), the
    rest split with switch_separate_string (so ``^^Y`` and quotes apply too), each
    ``app[:data]`` at its first ``:``, leading blanks of the name skipped."""
    s = text_of(target)
    delim = ","
    if len(s) > 3 and s[0] == "m" and s[1] == ":" and s[3] == ":":
        delim, target = s[2], target[4:]
    apps = []
    for part in separate(target, delim):
        text = text_of(part)
        k = text.find(":")
        app, data = (part, None) if k < 0 else (part[:k], part[k + 1:])
        while app and app[0][0] == " ":
            app = app[1:]
        apps.append((app, data))
    return apps


def session_transfer(transfer: Transfer, variables: Callable[[str], str | None] = lambda name: None,
                     profile_dialplan: str = "XML", profile_context: str = "default") -> tuple[Chars, Chars]:
    """(dialplan, context) switch_ivr_session_transfer (src/switch_ivr.c, 1.10) routes to: an
    empty dialplan (none, or empty once cleaned up) is the channel's ``force_transfer_dialplan``
    if set, else the caller profile's (``inline`` there counts as none), else XML; an empty
    context is ``force_transfer_context``, else the profile's, else ``default``."""
    dialplan = transfer.dialplan or []
    if not text_of(dialplan) and variables("force_transfer_dialplan"):
        dialplan = chars(variables("force_transfer_dialplan") or "", "fs")
    if not text_of(dialplan) and profile_dialplan.lower() != "inline":
        dialplan = chars(profile_dialplan, "fs")
    context = transfer.context or []
    if not text_of(context) and variables("force_transfer_context"):
        context = chars(variables("force_transfer_context") or "", "fs")
    return dialplan or chars("XML", "fs"), context or chars(profile_context or "default", "fs")


def routed_applications(transfer: Transfer, variables: Callable[[str], str | None] = lambda name: None,
                        profile_dialplan: str = "XML") -> list[tuple[Chars, Chars | None]] | None:
    """What a transfer runs when one of its dialplans is ``inline`` (the inline dialplan's
    arg, else the extension, as applications); None when no dialplan is ``inline``. The
    dialplan is the one :func:`session_transfer` picks with the channel's ``variables``."""
    for name, arg in dialplans(session_transfer(transfer, variables, profile_dialplan)[0]):
        if text_of(name).strip().lower() == "inline":
            return inline_applications(arg if arg else transfer.extension)
    return None


# -- channel variables FreeSWITCH runs (src/include/switch_types.h, SWITCH_*_VARIABLE) --------
#: variables whose value FreeSWITCH runs as an API: api_hook (switch_core_state_machine.c:
#: "cmd::arg" or "cmd arg", the arg expanded again), switch_ivr_bridge.c, switch_ivr_async.c
API_VARIABLES = ("api_hangup_hook", "api_reporting_hook", "api_after_bridge", "api_before_bridge",
                 "record_post_process_exec_api")
#: variables whose value is an application (and its argument) FreeSWITCH runs
APP_VARIABLES = ("exec_after_bridge_app", "exec_after_bridge_arg", "bridge_pre_execute_app",
                 "bridge_pre_execute_data", "bridge_pre_execute_aleg_app", "bridge_pre_execute_aleg_data",
                 "bridge_pre_execute_bleg_app", "bridge_pre_execute_bleg_data", "group_confirm_file",
                 "group_confirm_key")
#: switch_channel_api_on / switch_channel_execute_on (switch_channel.c): every variable whose
#: name starts so (strncasecmp), each array element too
API_PREFIXES = ("api_on_",)
APP_PREFIXES = ("execute_on_", "record_post_process_exec_app")
#: variables FreeSWITCH routes the call by: switch_ivr_bridge.c (transfer_after_bridge,
#: ext:dialplan:context), switch_channel_handle_cause (transfer_on_fail), switch_ivr.c
#: switch_ivr_session_transfer (force_transfer_dialplan / force_transfer_context)
ROUTE_VARIABLES = ("transfer_after_bridge", "transfer_after_early_bridge", "transfer_on_fail",
                   "force_transfer_dialplan", "force_transfer_context",
                   # switch_ivr_bridge.c: becomes the other leg's transfer_after_bridge
                   "hold_hangup_xfer_exten",
                   # mod_fifo.c fifo_function and mod_dptools.c audio_bridge_function (campon):
                   # switch_ivr_session_transfer(exten, dialplan, context)
                   "fifo_orbit_exten", "fifo_orbit_dialplan", "fifo_orbit_context",
                   "campon_fallback_exten", "campon_fallback_dialplan", "campon_fallback_context",
                   # sofia.c: a 3xx is followed by a transfer to this dialplan and context
                   "sip_redirect_dialplan", "sip_redirect_context",
                   # mod_sofia: the proxy (sofia_glue_do_invite) and the address the INVITE goes to
                   "sip_route_uri", "sip_network_destination")
#: variables naming other variables FreeSWITCH copies to the new leg (switch_ivr_originate.c)
COPY_VARIABLES = ("export_vars", "bridge_export_vars")
#: variables FreeSWITCH plays as files or puts before a file name: switch_ivr_play_file
#: (sound_prefix), switch_ivr_originate.c / switch_ivr_bridge.c (hold music, ringback),
#: mod_dptools.c campon, mod_conference conference_file_play, mod_fifo.c (chime list split
#: at ',', announcements)
PATH_VARIABLES = ("sound_prefix", "hold_music", "temp_hold_music", "ringback", "transfer_ringback",
                  "campon_hold_music", "conference_enter_sound", "conference_exit_sound", "fifo_chime_list",
                  "fifo_orbit_announce", "fifo_outbound_announce")
#: whether the api_hangup_hook gets the session (switch_core_session_hangup_state)
HOOK_FLAGS = ("session_in_hangup_hook",)


def variable_use(name: str) -> str | None:
    """What FreeSWITCH does with the value of channel variable ``name`` (matched without
    case, as switch_event_get_header and strncasecmp do): "api", "app", "route", "copy", "flag";
    None when it only stores it."""
    key = name.lower()
    if key in API_VARIABLES or key.startswith(API_PREFIXES):
        return "api"
    if key in APP_VARIABLES or key.startswith(APP_PREFIXES):
        return "app"
    if key in ROUTE_VARIABLES:
        return "route"
    if key in COPY_VARIABLES:
        return "copy"
    if key in HOOK_FLAGS:
        return "flag"
    return None


def plays(name: str) -> bool:
    """Whether FreeSWITCH reads the value of ``name`` as a file (or the folder of files) it plays."""
    return name.lower() in PATH_VARIABLES


def hook_command(name: str, value: str) -> tuple[str, str | None]:
    """(command, argument) FreeSWITCH runs for the value of a variable it runs:
    api_hook splits at ``::`` else the first space; do_api_on at the first space;
    do_execute_on at the first space or a ``:`` not followed by ``:``."""
    key = name.lower()
    if key in ("api_hangup_hook", "api_reporting_hook"):
        at = value.find(":")
        if at >= 0 and value[at + 1:at + 2] == ":":
            return value[:at], value[at + 2:]
    if variable_use(name) == "api":
        cmd, sep, arg = value.partition(" ")
        return cmd, arg if sep else None
    for i, c in enumerate(value):
        if c == " " or (c == ":" and value[i + 1:i + 2] != ":"):
            return value[:i], value[i + 1:]
        if c == ":":
            break
    return value, None
