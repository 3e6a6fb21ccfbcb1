"""Static chain binaries from Go source: a local module directory, or a module and
version from the Go module proxy.

A module build goes through a wrapper module that requires the chain's module and
copies its ``replace`` directives (SDK v0.45 and v0.46 only build with theirs:
regen-network's gogoproto fork, cometbft for tendermint, ...): ``go install
module@version`` refuses a module that has any. Every build is static
(``CGO_ENABLED=0``), stripped and trimmed, with the SDK's version variables set, and
cached under a key of everything that shapes it, so an unchanged profile never
builds twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from agent.adapters.process import tool_env

__all__ = [
    "BuildError",
    "GoModule",
    "GoSource",
    "build",
    "cache_dir",
    "module_replaces",
]

VERSION_PKG = "github.com/cosmos/cosmos-sdk/version"


class BuildError(RuntimeError):
    """A Go build failed; the message holds the command and the tail of its output."""


@dataclass(frozen=True, slots=True)
class GoModule:
    """A chain's main package inside a module served by the Go module proxy."""

    module: str  # github.com/cosmos/cosmos-sdk
    version: str  # v0.45.16
    package: str = ""  # simapp/simd (relative to the module; "" = its root)
    tags: tuple[str, ...] = ()

    @property
    def import_path(self) -> str:
        return f"{self.module}/{self.package}".rstrip("/")


@dataclass(frozen=True, slots=True)
class GoSource:
    """A chain's main package in a local Go module directory."""

    directory: Path
    package: str = "."  # ./cmd/chaind
    tags: tuple[str, ...] = ()
    extra_inputs: tuple[Path, ...] = field(default=())


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rehearse" / "kit"


def _go_env() -> dict[str, str]:
    # The minimal environment and Go's own variables: never the keyring password.
    return tool_env({"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"})


def _run(argv: list[str], cwd: Path, what: str, timeout: float = 1800) -> str:
    try:
        proc = subprocess.run(
            argv, cwd=cwd, env=_go_env(), capture_output=True, text=True, timeout=timeout
        )
    except FileNotFoundError:
        raise BuildError(
            f"{what}: `{argv[0]}` not found (Go >= 1.22 builds chain binaries)"
        ) from None
    except subprocess.TimeoutExpired:
        raise BuildError(
            f"{what}: `{' '.join(argv[:3])}` took longer than {timeout:.0f}s"
        ) from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise BuildError(f"{what}: `{' '.join(argv[:4])}` exited {proc.returncode}:\n{tail}")
    return proc.stdout


_REPLACE_LINE = re.compile(
    r"^\s*([^\s/][^\s]*)(?:\s+(v[^\s]+))?\s*=>\s*([^\s]+)(?:\s+(v[^\s]+))?\s*$"
)


def module_replaces(go_mod: str) -> list[str]:
    """The ``replace`` directives of a go.mod text that point at other modules (a
    local-path replacement cannot leave its repository, so it is dropped)."""
    lines: list[str] = []
    inside = False
    for raw in go_mod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if inside:
            if line == ")":
                inside = False
                continue
            body = line
        elif line.startswith("replace ("):
            inside = True
            continue
        elif line.startswith("replace "):
            body = line[len("replace ") :]
        else:
            continue
        m = _REPLACE_LINE.match(body)
        if m is None or m.group(3).startswith((".", "/")):
            continue
        lines.append(body)
    return lines


def _ldflags(version: str, name: str) -> str:
    # Name and AppName too: without them the SDK's version command reports the
    # placeholder "<appd>" as the binary's name.
    v = VERSION_PKG
    return f"-s -w -X {v}.Name={name} -X {v}.AppName={name} -X {v}.Version={version}"


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def _go_version() -> str:
    return _run(["go", "env", "GOVERSION"], Path.cwd(), "go env").strip()


def _source_digest(src: GoSource) -> str:
    h = hashlib.sha256()
    roots = [src.directory, *src.extra_inputs]
    for root in roots:
        files = sorted(
            p for p in root.rglob("*")
            if p.is_file() and (p.suffix == ".go" or p.name in ("go.mod", "go.sum"))
        )  # fmt: skip
        for p in files:
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def build(spec: GoModule | GoSource, name: str, version: str, *, log: object = None) -> Path:
    """The static binary ``name`` built from ``spec`` with ``version`` in its version
    variables: from the cache, or built now (minutes for a cold SDK build)."""
    say = log if callable(log) else (lambda _msg: None)
    goversion = _go_version()
    if isinstance(spec, GoModule):
        key = _key("mod2", spec.import_path, spec.version, ",".join(spec.tags), version, goversion)
    else:
        digest = _source_digest(spec)
        key = _key("src2", spec.package, ",".join(spec.tags), version, goversion, digest)
    out = cache_dir() / "bin" / key / name
    if out.is_file() and os.access(out, os.X_OK):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f".{name}.{os.getpid()}")
    tags = ["-tags", ",".join(spec.tags)] if spec.tags else []
    ldflags = _ldflags(version, name)
    argv = ["go", "build", "-trimpath", *tags, "-ldflags", ldflags, "-o", str(tmp_out)]
    if isinstance(spec, GoModule):
        say(f"building {name} from {spec.import_path}@{spec.version}")
        with tempfile.TemporaryDirectory(prefix="rehearse-gobuild-") as work:
            wd = Path(work)
            _wrapper(spec, wd)
            _run([*argv, spec.import_path], wd, f"build {spec.import_path}@{spec.version}")
    else:
        say(f"building {name} from {spec.directory}")
        _run([*argv, spec.package], spec.directory, f"build {spec.directory}")
    tmp_out.replace(out)
    return out


def _wrapper(spec: GoModule, wd: Path) -> None:
    """A module requiring ``spec`` with the replaces of its own go.mod, tidied."""
    what = f"{spec.module}@{spec.version}"
    info = json.loads(_run(["go", "mod", "download", "-json", what], wd, f"download {what}"))
    go_mod = Path(info["GoMod"]).read_text()
    replaces = module_replaces(go_mod)
    text = f"module rehearse.kit/build\n\ngo 1.22\n\nrequire {spec.module} {spec.version}\n"
    if replaces:
        text += "\nreplace (\n" + "".join(f"\t{r}\n" for r in replaces) + ")\n"
    (wd / "go.mod").write_text(text)
    (wd / "tools.go").write_text(
        f'//go:build tools\n\npackage tools\n\nimport _ "{spec.import_path}"\n'
    )
    _run(["go", "mod", "tidy"], wd, f"go mod tidy for {what}")
    shutil.rmtree(wd / "vendor", ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m agent.kit.gobuild MODULE@VERSION PACKAGE NAME OUT``: build (or take
    from the cache) and copy the binary to OUT."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4 or "@" not in args[0]:
        print(main.__doc__, file=sys.stderr)
        return 2
    module, version = args[0].split("@", 1)
    try:
        built = build(GoModule(module, version, args[1]), args[2], version, log=print)
    except BuildError as exc:
        print(f"gobuild: {exc}", file=sys.stderr)
        return 1
    out = Path(args[3])
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, out)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
