"""The documentation: the README's two commands and its flow, the MkDocs site, the generated
step pages, and the command-line reference against the parsers of every command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flowengine.cli import COMMANDS
from flowengine.flows import step_docs
from flowengine.flows.source import parse_source
from flowengine.flows.steps import KINDS
from flowengine.flows.validate import check

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

#: the two lines a user pastes on a fresh Debian (python3 and python3-venv only), each one line;
#: .ci/run evaluates the second
RUN_COMMAND = ("python3 -m venv .venv && .venv/bin/pip install -e . && "
               ".venv/bin/python run.py --listen 127.0.0.1:9000 --flows flows/")
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"


def readme() -> str:
    return README.read_text(encoding="utf-8")


def test_the_readme_is_short_and_holds_both_commands_each_on_one_line():
    lines = readme().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move the detail into docs/"
    assert RUN_COMMAND in lines and TEST_COMMAND in lines
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f'TEST_COMMAND="{TEST_COMMAND}"' in ci, ".ci/run must run the README's test command"


def test_the_readmes_example_flow_passes_the_validator():
    blocks = re.findall(r"```yaml\n(.*?)```", readme(), re.S)
    flows = [b for b in blocks if re.search(r"^steps:", b, re.M)]
    assert len(flows) == 1, "the README shows one example flow"
    flow, errors, warnings = check(parse_source(flows[0], "README.md"))
    assert errors == [] and warnings == [] and flow is not None
    assert flows[0].count("\n") <= 25


def test_the_site_builds_in_strict_mode(tmp_path):
    """Broken links, anchors that do not exist and pages missing from nav: all fail --strict."""
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    for kind in KINDS:
        assert (tmp_path / "site" / "steps" / kind / "index.html").is_file()


def test_every_step_kind_has_its_page_in_the_docs_and_the_nav():
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    [steps] = [entry["Step kinds"] for entry in nav if "Step kinds" in entry]
    listed = [path for entry in steps for path in entry.values()]
    assert listed == ["steps/index.md"] + [f"steps/{kind}.md" for kind in KINDS], \
        "mkdocs.yml's Step kinds nav must list steps/index.md, then every kind in KINDS order"
    index = (DOCS / "steps" / "index.md").read_text(encoding="utf-8")
    for name, kind in KINDS.items():
        page = (DOCS / "steps" / f"{name}.md").read_text(encoding="utf-8")
        assert page.startswith(f"# `{name}`\n") and kind.written in page and kind.outcomes_doc in page
        assert "## Example\n" in page, f"no flow under {step_docs.EXAMPLE_DIRS} has a {name} step"
        assert f"]({name}.md)" in index


def test_the_committed_step_pages_are_the_ones_the_kinds_make():
    for relative, text in step_docs.pages(ROOT).items():
        path = ROOT / relative
        assert path.is_file() and path.read_text(encoding="utf-8") == text, \
            f"{relative} is out of date: run python3 -m flowengine.flows.generate"
    generated = {p.name for p in (DOCS / "steps").glob("*.md")}
    assert generated == {"index.md"} | {f"{k}.md" for k in KINDS}, "a page under docs/steps/ for no kind"


def test_a_kind_page_shows_what_the_kind_declares():
    queue = (DOCS / "steps" / "queue.md").read_text(encoding="utf-8")
    for words in ("`${queue_agent}`", "`exit_keys`", "`music`", "(`show application`); in the example: `callcenter`",
                  "queue: {name: support@default, exit_keys: \"0\", music: local_stream://moh}",
                  "Step `wait` of `flows/examples/queue.yaml`", "(../freeswitch.md#queue)"):
        assert words in queue


def _options(command: str | None) -> list[str]:
    """Every option string of a run.py command, as its own --help prints it."""
    argv = [sys.executable, str(ROOT / "run.py")] + ([command] if command else []) + ["--help"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    text = done.stdout.split("options:", 1)[1].split("commands (", 1)[0]
    options = []
    for line in text.splitlines():
        if line.startswith("  -"):   # an option's own line; its help follows after two spaces
            options += re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", line.strip().split("  ")[0])
    return [o for o in dict.fromkeys(options) if o not in ("-h", "--help")]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_the_command_line_page_documents_every_option(command):
    page = (DOCS / "command-line.md").read_text(encoding="utf-8")
    heading = "## Serving calls (no command)" if command is None else f"## `{command}`"
    assert heading in page, f"docs/command-line.md has no section {heading!r}"
    section = page.split(heading, 1)[1].split("\n## ", 1)[0]
    options = _options(command)
    assert options, f"found no option in run.py {command or ''} --help"
    for option in options:
        assert f"`{option}" in section, f"{option} of run.py {command or ''} is missing from docs/command-line.md"
