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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

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
    pairs = []
    for part in _split_char(body, ",", 10 ** 6):
        text = text_of(part)
        if "=" in text:
            k = text.index("=")
            pairs.append((text[:k], part[k + 1:]))
        elif text:
            pairs.append((text, []))
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
