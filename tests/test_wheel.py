"""flowengine installs like any Python package: a plain (non-editable) wheel install works.

The wheel is built from a copy of the source tree (an in-tree build reuses ``build/lib``,
which keeps modules since deleted from the source and would ship them, and writes into the
working tree), without build isolation and without an index (the build needs setuptools and
wheel: the ``test`` extra installs them). It is installed with ``--no-deps`` into a fresh venv
that sees the runtime dependencies of this environment (``--system-site-packages``), and the
venv's python is run from a directory outside the checkout, with ``-I`` so neither the
current directory nor PYTHONPATH nor the user site can put the checkout on the path; the test
also checks that ``flowengine`` is imported from the venv and not from the editable install.
Nothing here is skipped: a missing prerequisite fails with what to do.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: data files the package reads at run time (next to the module that reads them)
DATA_FILES = ["flowengine/flows/flow.schema.json", "flowengine/testing/data/channel.json",
              "flowengine/server/flow_map_static/flow_map.js", "flowengine/server/flow_map_static/dagre.min.js"]

#: not part of the source a wheel is built from
_NOT_SOURCE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
                                     ".venv", "venv", ".hypothesis", ".pytest_cache", ".benchmarks",
                                     ".mypy_cache", ".ruff_cache", ".tox")

TIMEOUT = 120


def _run(argv: list, *, what: str, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("timeout", TIMEOUT)
    try:
        proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kwargs)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what}: no result after {exc.timeout} s: {' '.join(map(str, argv))}")
    return proc


def _output(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def _package_files(tree: Path) -> set[str]:
    """The files of the flowengine package under ``tree``, as wheel names."""
    return {p.relative_to(tree).as_posix() for p in (tree / "flowengine").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def _require_build_tools() -> None:
    import importlib.util
    missing = [name for name in ("setuptools", "wheel") if importlib.util.find_spec(name) is None]
    if importlib.util.find_spec("pip") is None:
        missing.append("pip")
    if missing:
        pytest.fail(f"building the wheel needs {', '.join(missing)} in this environment "
                    f"({sys.executable}): run python3 -m pip install -e '.[test]'")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _require_build_tools()
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=_NOT_SOURCE)
    out = base / "dist"
    proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "--check-build-dependencies", "--no-index", "--disable-pip-version-check",
                 "--no-input", "-w", out, src], what="building the wheel", cwd=base)
    if proc.returncode != 0:
        pytest.fail("building the wheel failed (its build requirements, pyproject.toml "
                    "[build-system] requires, must be installed here: python3 -m pip install "
                    f"-e '.[test]'):\n{_output(proc)}")
    wheels = sorted(out.glob("flowengine-*.whl"))
    assert len(wheels) == 1, f"expected one flowengine wheel in {out}, found {wheels}"
    # what the wheel must hold: every file of the package in the source it was built from
    wheel = wheels[0]
    wheel.with_suffix(".source-files").write_text("\n".join(sorted(_package_files(src))))
    return wheel


def test_wheel_holds_the_whole_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for name in DATA_FILES:
        assert name in names, f"{name} is read at run time but is not in the wheel {wheel.name}"
    shipped = {n for n in names if n.startswith("flowengine/")}
    source = set(wheel.with_suffix(".source-files").read_text().split())
    assert source - shipped == set(), (
        f"files of the package missing from the wheel (package data in pyproject.toml?): "
        f"{sorted(source - shipped)}")
    assert shipped - source == set(), f"files in the wheel that the source has not: {sorted(shipped - source)}"


def _venv_python(env_dir: Path) -> Path:
    bindir = "Scripts" if os.name == "nt" else "bin"
    return env_dir / bindir / ("python.exe" if os.name == "nt" else "python")


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv with the wheel installed (and this environment's packages)."""
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=os.name != "nt").create(env_dir)
    python = _venv_python(env_dir)
    assert python.exists(), f"venv created at {env_dir} has no {python}"
    if sys.prefix != sys.base_prefix:
        # this environment is itself a venv: --system-site-packages gives the base interpreter's
        # packages, not ours (where gevent, PyYAML, ... are); list ours after the venv's own
        purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       what="asking the venv for its site-packages").stdout.strip()
        ours = dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"],
                              sysconfig.get_paths()["platlib"]])
        Path(purelib, "zz_outer_environment.pth").write_text("\n".join(ours) + "\n")
    proc = _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check",
                 "--no-input", wheel], what="installing the wheel", cwd=env_dir)
    if proc.returncode != 0:
        pytest.fail(f"pip install --no-deps {wheel.name} into the venv failed:\n{_output(proc)}")
    return python


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory outside the checkout, with a copy of the bundled flows and their tests."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    assert ROOT not in cwd.resolve().parents, f"the temporary directory {cwd} is inside the checkout {ROOT}"
    shutil.copytree(ROOT / "flows", cwd / "flows", ignore=_NOT_SOURCE)
    return cwd


def _flowengine(python: Path, cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONNOUSERSITE"] = "1"
    return _run([python, "-I", *args], what=f"python {' '.join(args)}", cwd=cwd, env=env, input=stdin)


def test_imports_from_the_venv_not_the_checkout(installed: Path, elsewhere: Path) -> None:
    proc = _flowengine(installed, elsewhere, "-c", (
        "import sys, flowengine, flowengine.flows.validate as v, flowengine.testing.scripted as s\n"
        "print(sys.prefix); print(flowengine.__file__); print(v.SCHEMA_PATH); print(s.__file__)"))
    assert proc.returncode == 0, f"importing flowengine from the venv failed:\n{_output(proc)}"
    prefix, *files = [Path(line).resolve() for line in proc.stdout.split("\n") if line]
    env_dir = installed.parent.parent.resolve()
    assert prefix == env_dir, f"the venv's python runs in {prefix}, not {env_dir}"
    for f in files:
        assert ROOT not in f.parents, (
            f"{f} comes from the checkout {ROOT}, not the installed wheel: the editable install "
            f"shadows the venv's copy (sys.path and finders in {prefix})")
        assert env_dir in f.parents, f"{f} is not inside the venv {env_dir}"
        assert f.is_file(), f"{f} is not installed"


def test_check_the_bundled_flows(installed: Path, elsewhere: Path) -> None:
    # flows/ is one set (flows/examples/record.yaml calls flows/leave_message.yaml), checked
    # with every file under it
    count = sum(1 for p in (elsewhere / "flows").rglob("*")
                if p.suffix in (".yaml", ".yml") and not p.name.endswith((".test.yaml", ".test.yml")))
    proc = _flowengine(installed, elsewhere, "-m", "flowengine", "--check", "flows")
    assert proc.returncode == 0, f"python -m flowengine --check flows:\n{_output(proc)}"
    assert f"{count} flow(s) ok" in proc.stdout, f"python -m flowengine --check flows:\n{_output(proc)}"


def test_run_the_flow_test_cases(installed: Path, elsewhere: Path) -> None:
    proc = _flowengine(installed, elsewhere, "-m", "flowengine", "test", "flows")
    assert proc.returncode == 0, f"python -m flowengine test flows:\n{_output(proc)}"
    assert " 0 failed" in proc.stdout and "PASS " in proc.stdout, (
        f"python -m flowengine test flows ran no passing case:\n{_output(proc)}")


def test_simulate_a_call(installed: Path, elsewhere: Path) -> None:
    """One call through the terminal caller, which reads the caller's answers from stdin."""
    proc = _flowengine(installed, elsewhere, "-m", "flowengine", "simulate", "flows/main.yaml",
                       "--number", "1000", "--time", "2026-11-23T10:30:00+01:00", stdin="1\n" + "\n" * 20)
    assert proc.returncode == 0, f"python -m flowengine simulate:\n{_output(proc)}"
    ends = [line for line in proc.stdout.splitlines() if line.startswith("end: ")]
    assert ends and "failed before" not in ends[-1], f"the simulated call did not run:\n{_output(proc)}"
