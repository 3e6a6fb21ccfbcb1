"""``rehearse init --chain v1=PATH v2=PATH --upgrade NAME``: a starting profile, written
by asking the two binaries what they are (their name, SDK line, default home, and,
from a scratch ``init`` in a temporary home, their bech32 prefix and bond denom).

``render_profile`` is pure; ``probe`` runs the binary (nothing it does leaves its
temporary home).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agent.adapters.process import child_env
from agent.adapters.sdk import line_of_version
from agent.kit.forms import commands_of, forms_from_help
from agent.kit.genesis import bond_denom

__all__ = ["ChainFacts", "ProbeError", "probe", "render_profile"]


class ProbeError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ChainFacts:
    path: Path
    name: str  # the server name (simd, gaiad, ...)
    version: str
    sdk_version: str  # "" when the binary does not say
    line: str  # "v0.45", ... or "" when unknown
    default_home: str
    bech32_prefix: str
    denom: str


def _run(binary: Path, *args: str, home: Path | None = None) -> str:
    argv = [str(binary), *args, *(["--home", str(home)] if home else [])]
    try:
        proc = subprocess.run(
            argv, env=child_env(), capture_output=True, text=True, timeout=60, input=""
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProbeError(f"{binary}: cannot run it: {exc}") from None
    if proc.returncode != 0:
        raise ProbeError(f"`{binary.name} {' '.join(args)}` exited {proc.returncode}: "
                         f"{proc.stderr.strip()[-300:]}")  # fmt: skip
    return proc.stdout + proc.stderr


def _sdk_version(doc: dict[str, object]) -> str:
    reported = str(doc.get("cosmos_sdk_version") or "").strip()
    if reported:
        return reported
    deps = doc.get("build_deps")
    for dep in deps if isinstance(deps, list) else []:
        if isinstance(dep, str) and dep.startswith("github.com/cosmos/cosmos-sdk@"):
            return dep.split("@", 1)[1].split(" ", 1)[0]
    return ""


_PROGRAM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _name(server_name: str, top_help: str, binary: Path) -> str:
    """The program's name: the version's server_name, unless it is missing or the SDK's
    placeholder ("<appd>", left when the build set no ldflags); then the root
    command's name in ``--help`` ("Usage:\n  simd [command]"); then the file's."""
    if _PROGRAM.match(server_name):
        return server_name
    m = re.search(r"Usage:\s*\n\s+(\S+)", top_help)
    if m and _PROGRAM.match(m.group(1)):
        return m.group(1)
    return binary.name


def probe(binary: Path) -> ChainFacts:
    if not binary.is_file():
        raise ProbeError(f"{binary} is not a file")
    raw = _run(binary, "version", "--long", "--output", "json")
    try:
        doc = json.loads(raw[raw.index("{") :])
    except ValueError:
        doc = {}
    top = _run(binary, "--help")
    name = _name(str(doc.get("server_name") or ""), top, binary)
    sdk = _sdk_version(doc)
    line = line_of_version(sdk) or ""
    m = re.search(r'--home string\s.*\(default "([^"]+)"\)', top)
    home_default = m.group(1) if m else f"/root/.{name}"
    genesis_help = _run(binary, "genesis", "--help") if "genesis" in commands_of(top) else ""
    forms = forms_from_help(top, genesis_help, _run(binary, "init", "--help"))
    if not line and not forms.genesis_group:  # top-level genesis commands: 0.45 or 0.46
        legacy = "submit-legacy-proposal" in commands_of(_run(binary, "tx", "gov", "--help"))
        line = "v0.46" if legacy else "v0.45"
    scratch = Path(tempfile.mkdtemp(prefix="rehearse-probe-"))
    try:
        _run(binary, "init", "probe", "--chain-id", "probe-1", home=scratch)
        denom = bond_denom(json.loads((scratch / "config" / "genesis.json").read_text()))
        out = _run(binary, "keys", "add", "probe", "--keyring-backend", "test",
                   "--output", "json", home=scratch)  # fmt: skip
        address = ""
        for text in reversed(out.strip().splitlines()):
            if text.strip().startswith("{"):
                address = str(json.loads(text)["address"])
                break
        if "1" not in address:
            raise ProbeError(f"{binary.name} keys add printed no address")
        prefix = address[: address.rindex("1")]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return ChainFacts(binary, name, str(doc.get("version") or ""), sdk, line, home_default,
                      prefix, denom)  # fmt: skip


def _q(s: str) -> str:
    return json.dumps(s)


def render_profile(v1: ChainFacts, v2: ChainFacts, upgrade: str, base: Path) -> str:
    """The profile text: the kit, a two-validator topology, the chain's own facts."""

    def rel(p: Path) -> str:
        try:
            return str(p.resolve().relative_to(base.resolve()))
        except ValueError:
            return str(p.resolve())

    def said(f: ChainFacts) -> str:
        sdk = f"Cosmos SDK {f.sdk_version}" if f.sdk_version else f"SDK line {f.line or '?'}"
        return f"{f.name} {f.version}, {sdk}"

    return f"""# A rehearsal profile written by `rehearse init --chain` from two binaries:
#   v1: {said(v1)}
#   v2: {said(v2)}
# The kit builds the images (v2 staged for Cosmovisor under {upgrade!r}), the node homes
# and the Compose files from them. Edit the topology, add [[reads]] and [[checks]] for
# what your upgrade must do (config.toml documents every key), then:
#   rehearse run --config {base.name}/rehearse.toml

[kit]
v1 = {{ binary = {_q(rel(v1.path))} }}
v2 = {{ binary = {_q(rel(v2.path))} }}
name = {_q(v1.name)}
voting_period = "20s"
block_time = "1s"

[topology]
validators = 2
sentries = false
full_nodes = 1

[chain]
upgrade_name = {_q(upgrade)}
denom = {_q(v1.denom)}
bech32_prefix = {_q(v1.bech32_prefix)}
# The SDK line is read from the running node ("auto"); the probe saw {v1.line or "none"}.
sdk_line = "auto"
"""
