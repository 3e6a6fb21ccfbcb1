"""The bundled data (``config.toml``, the bundled chain's profile with every key shown,
and the prod-sim tree: the chain's sources, its short profile and its check) and
``rehearse init``.

Where the data is:

- an installed wheel (a venv, pipx, ``--user``, ``--target``): the top-level
  data directory ``rehearse_data/`` beside the ``agent`` package in
  site-packages (``hatch_build.py`` puts it there);
- a source checkout (an editable install, ``PYTHONPATH``): the repository root,
  the directory holding ``agent/``.

Both are found from where ``agent`` itself was imported, so no install prefix
is guessed; the distribution's own record (``importlib.metadata``) is the
fallback for unusual layouts.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from agent.errors import EnvironmentProblem

__all__ = [
    "DATA_DIR",
    "InitRefused",
    "InitResult",
    "bundle_root",
    "init",
    "next_steps",
    "source_files",
]

DATA_DIR = "rehearse_data"
CONFIG = "config.toml"
PROD_SIM = "prod-sim"
# Never copied out of a source checkout's prod-sim/ (as in .gitignore): build
# outputs, the network the kit made (homes, desks, the keyring password), the
# agent's state and reports.
_NOT_SOURCE_TOP = ("build", ".kit", ".rehearse", ".keyring-password", "report.*")
_NOT_SOURCE_ANY = ("__pycache__", "*.pyc")


def _is_bundle(root: Path) -> bool:
    return (root / CONFIG).is_file() and (root / PROD_SIM / "rehearse.toml").is_file()


def _candidates() -> list[Path]:
    package = Path(__file__).resolve().parent
    found = [package.parent / DATA_DIR, package.parent]
    try:
        found.append(Path(str(metadata.distribution("rehearse").locate_file(DATA_DIR))))
    except metadata.PackageNotFoundError:
        pass
    return found


def bundle_root() -> Path:
    """The directory holding the bundled ``config.toml`` and ``prod-sim/``."""
    for root in _candidates():
        if _is_bundle(root):
            return root
    tried = ", ".join(str(c) for c in _candidates())
    raise EnvironmentProblem(
        f"the bundled config.toml and prod-sim are missing (looked in {tried})",
        fix="reinstall rehearse from its wheel, or run it from a source checkout",
    )


class InitRefused(Exception):
    """``rehearse init`` would overwrite ``path`` and ``--force`` was not given."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} exists; --force overwrites it")
        self.path = path


@dataclass
class InitResult:
    config: Path
    prod_sim: Path | None = None
    prod_sim_files: int = 0
    replaced: list[Path] = field(default_factory=list)


_Ignore = Callable[[str, list[str]], set[str]]


def _ignore_generated(src_root: Path) -> _Ignore:
    def ignore(directory: str, names: list[str]) -> set[str]:
        out = {n for n in names if any(fnmatch.fnmatch(n, p) for p in _NOT_SOURCE_ANY)}
        if Path(directory) == src_root:
            out |= {n for n in names if any(fnmatch.fnmatch(n, p) for p in _NOT_SOURCE_TOP)}
        return out

    return ignore


def init(dest: Path, *, with_prod_sim: bool = False, force: bool = False) -> InitResult:
    """Write the default config (and the prod-sim tree) into ``dest``.

    Refuses (``InitRefused``, nothing written) when a target exists and not
    ``force``. With ``force`` an existing prod-sim is updated in place: its
    build outputs and the network the kit made are kept.
    """
    root = bundle_root()
    config = dest / CONFIG
    prod_sim = dest / PROD_SIM
    targets = [config, *([prod_sim] if with_prod_sim else [])]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise InitRefused(existing[0])
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / CONFIG, config)
    result = InitResult(config=config, replaced=existing)
    if with_prod_sim:
        src = root / PROD_SIM
        ignore = _ignore_generated(src)
        shutil.copytree(src, prod_sim, ignore=ignore, dirs_exist_ok=True)
        result.prod_sim = prod_sim
        result.prod_sim_files = len(source_files(src))
    return result


def source_files(src: Path) -> list[Path]:
    """The files of the prod-sim tree ``src`` that ``init`` copies (relative paths)."""
    ignore = _ignore_generated(src)
    out: list[Path] = []
    for directory, dirs, files in os.walk(src):
        skipped = ignore(directory, [*dirs, *files])
        dirs[:] = sorted(d for d in dirs if d not in skipped)
        out += [Path(directory, f).relative_to(src) for f in sorted(files) if f not in skipped]
    return out


def next_steps(result: InitResult, dest: Path) -> list[str]:
    """What ``rehearse init`` prints: what it wrote and what to run next."""
    lines = [f"wrote {result.config} (the bundled chain's profile, every key documented)"]
    if result.prod_sim is None:
        lines += [
            "next: edit it for your chain ([kit] v1 and v2, [topology], [chain]), or let",
            "`rehearse init --chain v1=PATH v2=PATH --upgrade NAME` write a profile for",
            "your binaries; then `rehearse check-config` and `rehearse doctor`.",
            "As written it rehearses the bundled chain from ./prod-sim:",
            "`rehearse init --prod-sim` writes that too.",
        ]
        return lines
    lines.append(
        f"wrote {result.prod_sim}/ ({result.prod_sim_files} files: the chain's sources, "
        "its profile, its check)"
    )
    if result.prod_sim in result.replaced:
        lines.append("  (updated in place: its build/ and the kit's network are kept)")
    cd = [] if dest.resolve() == Path.cwd().resolve() else [f"cd {dest}"]
    steps = [
        *cd,
        "prod-sim/scripts/check-prereqs.sh     # Go >= 1.24, Docker, Compose, Python >= 3.11",
        "export REHEARSE_KEYRING_PASSWORD='at-least-8-chars'",
        "rehearse kit build                    # binaries, images, homes (minutes, once)",
        "rehearse doctor                       # everything a run needs",
        "rehearse run                          # the rehearsal",
    ]
    return [*lines, "next, to build and rehearse the bundled chain:"] + [f"  {s}" for s in steps]
