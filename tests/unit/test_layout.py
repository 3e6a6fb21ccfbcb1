"""The layout is the architecture: the core stays pure, adapters stay below the runtime."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[2] / "agent"
IO_LIBRARIES = {"anyio", "httpx", "websockets", "aiodocker", "structlog", "asyncio", "socket"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


CORE = sorted((AGENT / "core").glob("*.py"))


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_core_imports_no_io_library(path: Path) -> None:
    bad = {m for m in _imports(path) if m.split(".")[0] in IO_LIBRARIES}
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_core_imports_only_core_and_errors(path: Path) -> None:
    outside = {
        m
        for m in _imports(path)
        if m.startswith("agent") and not (m.startswith("agent.core") or m == "agent.errors")
    }
    assert not outside, f"{path.name} reaches out of the core: {sorted(outside)}"


def test_the_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import anyio\nfrom httpx import AsyncClient\n")
    assert {"anyio", "httpx"} <= _imports(bad)


def test_adapters_do_not_import_the_runtime() -> None:
    for path in (AGENT / "adapters").glob("*.py"):
        up = {m for m in _imports(path) if m.startswith(("agent.runtime", "agent.watchdog"))}
        assert not up, f"{path.name} imports {sorted(up)}"


def test_config_imports_no_package_that_imports_it() -> None:
    # Issue 18: config/schema.py imported watchdog.settings while the watchdog
    # imports config, a loop between packages. The configuration sits below every
    # package that reads it: it may use the core and the validation helpers only.
    for path in (AGENT / "config").glob("*.py"):
        up = {
            m
            for m in _imports(path)
            if m.startswith("agent.")
            and not m.startswith(
                ("agent.config", "agent.core", "agent.validation", "agent.errors", "agent.redact")
            )
            and m not in ("agent.kit.spec", "agent.kit.plan")  # the kit's own pure sections
        }
        assert not up, f"config/{path.name} imports {sorted(up)}"


def test_unit_tests_mirror_the_package() -> None:
    # Issue 18: tests/unit was one folder of 53 files. Each folder now names the
    # package its tests cover; only the architecture test sits above, and the fakes
    # (split by what they fake) beside them.
    unit = Path(__file__).resolve().parent
    folders = {p.name for p in unit.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert "fakes" in folders
    folders.discard("fakes")
    packages = {p.name for p in AGENT.iterdir() if (p / "__init__.py").exists()}
    assert folders <= packages, sorted(folders - packages)
    loose = sorted(p.name for p in unit.glob("test_*.py"))
    assert loose == ["test_layout.py"], loose


def test_tests_import_the_fakes_by_one_name_only() -> None:
    # "tests.unit.fakes" and "fakes" were two module objects of one file: two
    # FakeChain classes, and mypy could not check the tests at all.
    unit = Path(__file__).resolve().parent
    for path in unit.rglob("*.py"):
        bad = {m for m in _imports(path) if m.startswith("tests.")}
        assert not bad, f"{path.relative_to(unit)} imports {sorted(bad)}"


def test_executors_get_typed_settings_not_the_config() -> None:
    # Issue 18: the whole Config reached ExecContext. The executors now read
    # ExecSettings, taken from it once (executors/settings.py, the one exception).
    executors = AGENT / "runtime" / "executors"
    for path in executors.glob("*.py"):
        if path.name == "settings.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            a.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agent.config")
            for a in node.names
        }
        assert "Config" not in names, f"executors/{path.name} imports Config"


# Issue 18's bounds: a module a newcomer reads in one sitting, a README in five minutes.
MAX_MODULE_LINES = 450
MAX_README_LINES = 150


def test_no_module_outgrows_one_sitting() -> None:
    long = {
        str(p.relative_to(AGENT)): n
        for p in AGENT.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"over {MAX_MODULE_LINES} lines (split by what they hold): {long}"


def test_the_readme_reads_in_five_minutes() -> None:
    readme = AGENT.parent / "README.md"
    n = len(readme.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; the rest belongs in docs/"
