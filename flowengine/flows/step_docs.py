"""The documentation's step pages, written out from the step kinds.

``docs/steps/index.md`` (the table of every kind, the keys every step has, the value types)
and one ``docs/steps/<kind>.md`` per kind: how it is written, what it does, its outcomes,
the ``${names}`` it sets, what preflight asks the host for it, the keys of its value (from
its JSON Schema) and an example step from the bundled flows. The pages are committed, and a
test fails when they differ from what the kinds say: ``python3 -m flowengine.flows.generate``
writes them again. Nothing here runs in a server.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

from ..errors import FlowError
from . import texts
from .model import Flow, Step
from .schema import BASE
from .source import load_source
from .steps import KINDS, MODULES, NeedKind, StepKind
from .validate import check

#: the checkout: docs/, flows/ and tests/flows/ (absent from an installed wheel)
ROOT = Path(__file__).resolve().parents[2]
#: where example steps are looked for, in this order (flows/examples/<kind>.yaml first)
EXAMPLE_DIRS = ("flows", "tests/flows")
#: hand-written pages whose "## `kind`" headings a kind's page links to
SEE_ALSO = (("writing-flows.md", "Writing flows"), ("http.md", "HTTP in a flow"), ("freeswitch.md", "FreeSWITCH notes"))
GENERATED = (
    "<!-- generated from flowengine/flows/steps/{module}.py by "
    "`python3 -m flowengine.flows.generate`: edit the kind, not this page -->\n"
)

_NEEDS = {
    NeedKind.PROMPT: "each prompt file (`api file_exists`, under the call's `sound_prefix` and its rate folders)",
    NeedKind.DIRECTORY: "the folder it records into (`api file_exists`)",
    NeedKind.APPLICATION: "its application (`show application`)",
    NeedKind.MODULE: "the module it runs (`module_exists`)",
    NeedKind.SAY_LANGUAGE: "its say language (`show say`)",
    NeedKind.TTS_ENGINE: "its speech engine (`show interfaces`)",
}


def _slug(text: str) -> str:
    """A heading's anchor as MkDocs (Python-Markdown's toc) makes it."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _cell(text: str) -> str:
    """Text for a table cell. A ``|`` is left as it is: every one here is inside a code span,
    which Python-Markdown's tables (MkDocs) do not split on, and where ``\\|`` would show."""
    return text.replace("\n", " ")


def _type(schema: dict) -> str:
    """A schema as a few words: ``integer 1–20``, ``duration``, `` `GET`, `POST` ``."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](index.md#{_slug(name)})"
    if "enum" in schema:
        return ", ".join(f"`{json.dumps(v)}`" if not isinstance(v, str) else f"`{v}`" for v in schema["enum"])
    if "oneOf" in schema:
        return " or ".join(_type(s) for s in schema["oneOf"])
    written = schema.get("type", "any")
    kinds: list[str] = written if isinstance(written, list) else [written]
    words = []
    for kind in kinds:
        word = {
            "string": "text",
            "number": "number",
            "integer": "integer",
            "boolean": "`true`/`false`",
            "null": "empty",
            "object": "mapping",
            "array": "list",
        }.get(kind, kind)
        if kind in ("integer", "number") and "minimum" in schema and "maximum" in schema:
            word += f" {schema['minimum']}–{schema['maximum']}"
        if kind == "array" and "items" in schema:
            word += " of " + _type(schema["items"])
        if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
            keys = "language" if _per_language(schema) else "name"
            word += f" of {keys} → " + _type(schema["additionalProperties"])
        words.append(word)
    text = " or ".join(words)
    if "pattern" in schema:
        text += f" matching `{schema['pattern']}`"
    return text


def _per_language(schema: dict) -> bool:
    """A mapping keyed by the flow's languages (:func:`flowengine.flows.texts.schema`)."""
    return schema.get("propertyNames") == {"pattern": texts.LANGUAGE_NAME}


def _properties(schema: dict) -> str:
    required = set(schema.get("required", ()))
    rows = ["| key | value | meaning |\n|---|---|---|\n"]
    for key, sub in schema["properties"].items():
        note = " (required)" if key in required else ""
        rows.append(f"| `{key}`{note} | {_cell(_type(sub))} | {_cell(sub.get('description', ''))} |\n")
    return "".join(rows)


def _value(kind: StepKind) -> str:
    """The kind's value: its short form and the keys of its mapping form."""
    schema = kind.schema
    forms = schema["oneOf"] if "oneOf" in schema else [schema]
    mapping = [s for s in forms if "properties" in s]
    short = [s for s in forms if "properties" not in s]
    out = []
    if short:
        out.append(
            f"`{kind.name}:` takes {' or '.join(_type(s) for s in short)}"
            + (" or the mapping below." if mapping else ".")
            + "\n"
        )
        if schema.get("description"):
            out.append(f"\n{schema['description']}\n")
    if mapping:
        out.append("\n" + _properties(mapping[0]))
    items = schema.get("items")
    if isinstance(items, dict) and "properties" in items:  # a list of mappings (when's branches)
        out.append("\nEach item:\n\n" + _properties(items))
    if kind.also:
        out.append("\nAlso written as " + ", ".join(f"`{k}:`" for k in kind.also) + ".\n")
    if kind.step_keys:
        keys = {k: v for k, v in kind.step_keys.items() if k not in kind.also}
        if keys:
            out.append("\nKeys of the step beside it:\n\n" + _properties({"properties": keys}))
    return "".join(out)


def _examples(root: Path) -> dict[str, tuple[Flow, Step]]:
    """Each kind's example step: the first in ``flows/examples/<kind>.yaml``, else the first
    under ``flows/``, else (a kind no bundled flow uses) the first under ``tests/flows/``."""
    chosen: dict[str, tuple[Flow, Step]] = {}
    for folder in EXAMPLE_DIRS:
        found: dict[str, tuple[Flow, Step]] = {}
        for path in sorted((root / folder).rglob("*.yaml")):
            if path.name.endswith(".test.yaml"):
                continue
            try:
                flow, errors, _ = check(load_source(path))
            except FlowError:  # a file a test means to be refused
                continue
            if flow is None or errors:
                continue
            for step in flow.steps.values():
                current = found.get(step.kind)
                if current is None or (flow.path.stem == step.kind != current[0].path.stem):
                    found[step.kind] = (flow, step)
        chosen = {**found, **chosen}
    return chosen


def _step_text(flow: Flow, step: Step) -> str:
    """The step as its author wrote it, comments included."""
    line, col = flow.source.marks[step.at]
    lines = flow.source.path.read_text(encoding="utf-8").splitlines()
    taken = [lines[line - 1]]
    for text in lines[line:]:
        if not text.strip() or len(text) - len(text.lstrip()) < col:
            break
        taken.append(text)
    return "\n".join(t[col - 1 :] for t in taken) + "\n"


def _sections(root: Path, name: str) -> list[str]:
    """Links to the hand-written pages' headings about this kind (``## `queue` …``)."""
    links = []
    for page, title in SEE_ALSO:
        path = root / "docs" / page
        if not path.exists():
            continue
        for heading in re.findall(r"^#{2,4} (.*`" + re.escape(name) + r"`.*)$", path.read_text(encoding="utf-8"), re.M):
            links.append(f"- [{title}: {heading}](../{page}#{_slug(heading.replace('`', ''))})\n")
    return links


def _sentence(text: str) -> str:
    """``does`` as a sentence; a first word that is a name (``mod_say``) keeps its case."""
    first = text.split(" ", 1)[0]
    if "_" not in first and not first.startswith("`"):
        text = text[0].upper() + text[1:]
    return text + "."


def kind_page(kind: StepKind, root: Path, example: tuple[Flow, Step] | None) -> str:
    out = [
        f"# `{kind.name}`\n\n",
        GENERATED.format(module=MODULES[kind.name]),
        "\n",
        f"{_sentence(kind.does)}\n\n",
        f"**Written:** {kind.written}\n\n",
        f"## Outcomes\n\n{kind.outcomes_doc}\n",
    ]
    if kind.ends_flow:
        out.append("\nNothing follows it: `next` and `on:` are errors here.\n")
    elif kind.outcomes and kind.outcomes != ("done",):
        out.append(
            "\nThe names `on:` takes: "
            + ", ".join(f"`{o}`" for o in kind.outcomes)
            + "; without `on:` for an outcome, `next`.\n"
        )
    flow, step = example if example else (None, None)
    out.append("\n## Sets\n\n")
    if callable(kind.sets):
        names = kind.variables(step) if step else ()
        shown = ", ".join(f"`${{{n}}}`" for n in names)
        out.append(
            "Depends on how the step is written" + (f"; the example below sets {shown}" if shown else "") + ".\n"
        )
    elif kind.sets:
        out.append("Later steps may read " + ", ".join(f"`${{{n}}}`" for n in kind.sets) + ".\n")
    else:
        out.append("No `${name}` of its own.\n")
    out.append("\n## What preflight asks the host\n\n")
    needs: dict[NeedKind, list[str]] = {}
    for need in kind.needs(step) if step else ():
        needs.setdefault(need.kind, []).append(need.value)
    if needs:
        for need_kind in sorted(needs, key=lambda k: k.value):
            values = ", ".join(f"`{v}`" for v in dict.fromkeys(needs[need_kind]))
            out.append(f"- {_NEEDS[need_kind]}; in the example: {values}\n")
        out.append("\nSee [Preflight](../operations.md#preflight).\n")
    else:
        out.append("Nothing: it needs no file, module or application the host could lack.\n")
    out.append("\n## Value\n\n" + _value(kind).lstrip("\n"))
    if flow is not None and step is not None:
        where = flow.path.relative_to(root).as_posix()
        out.append(f"\n## Example\n\nStep `{step.name}` of `{where}`:\n\n```yaml\n{_step_text(flow, step)}```\n")
    links = _sections(root, kind.name)
    if links:
        out.append("\n## See also\n\n" + "".join(links))
    return "".join(out)


#: the keys of every step, which the base schema leaves undescribed
STEP_KEYS = {
    "description": "A note for people; the engine ignores it.",
    "next": "Where the call goes after the step when `on:` names no step for its outcome.",
    "on": "Outcome → step: where each outcome goes.",
}
#: the shared value types the kinds' schemas refer to, in this order
VALUE_TYPES = (
    "target",
    "scalar",
    "duration",
    "prompt",
    "numbers",
    "outcomes",
    "bridge_target",
    "caller_id",
    "condition",
)


def _value_type(name: str, schema: dict) -> str:
    text = f"\n### {name}\n\n"
    if schema.get("description"):
        text += schema["description"] + "\n\n"
    if "properties" in schema:
        return text + "A mapping:\n\n" + _properties(schema)
    return text + _type({k: v for k, v in schema.items() if k != "description"}) + ".\n"


def index_page(base: dict) -> str:
    rows = [f"| [`{k.name}`]({k.name}.md) | {k.written} | {k.does} | {k.outcomes_doc} |\n" for k in KINDS.values()]
    step = base["$defs"]["step"]["properties"]
    common = "".join(
        f"| `{key}` | {_cell(_type(sub))} | {STEP_KEYS.get(key, sub.get('description', ''))} |\n"
        for key, sub in step.items()
    )
    types = "".join(_value_type(name, base["$defs"][name]) for name in VALUE_TYPES)
    return (
        "# Step kinds\n\n" + GENERATED.format(module="*") + "\n"
        "A step is a mapping under `steps:` with exactly one of the keys below; the rest of the "
        "step says where the call goes next. Each kind has a page of its own.\n\n"
        "| kind | step | what it does | outcomes (for `on:`) |\n|---|---|---|---|\n"
        + "".join(rows)
        + "\n## Keys every step may have\n\n| key | value | meaning |\n|---|---|---|\n"
        + common
        + "\nAn outcome that `on:` does not name goes to `next`; with neither, the call ends "
        "(`--check` warns).\n\n## Value types\n" + types
    )


def pages(root: Path = ROOT) -> dict[str, str]:
    """``docs/steps/...`` path (relative to ``root``) -> the text it must have."""
    base = json.loads(BASE.read_text(encoding="utf-8"))
    examples = _examples(root)
    out = {"docs/steps/index.md": index_page(base)}
    for kind in KINDS.values():
        out[f"docs/steps/{kind.name}.md"] = kind_page(kind, root, examples.get(kind.name))
    return out


def write(root: Path = ROOT) -> list[Path]:
    written = []
    for relative, text in pages(root).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
