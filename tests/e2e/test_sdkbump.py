"""Profile sdkbump by hand: an SDK bump (v0.47.17 -> v0.50.15) with store upgrades.

The chain kit builds the network from the profile (`rehearse kit build`); then no
agent: Compose on the generated files, the bumpd CLI in containers (password on
stdin, desk mounted) and the nodes' RPC/REST. Two validators and a full node under
Cosmovisor; the upgrade proposal goes in the SDK v0.47 legacy form; v2 applies
`v2-sdk50` (circuit store added, crisis store deleted) and the stack restarts on
plain v2.

On the way it records each line's REST answers (node_info, gov proposals on the
v1 and v1beta1 paths, gov params, a vote, upgrade plan/applied_plan) into the
test's tmp dir; with REHEARSE_RECORD_FIXTURES=1 they are copied to
tests/fixtures/sdk047/ and tests/fixtures/sdk050/ (the committed fixtures).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from integration.solo_chain import free_port_base

from .prodsim import compose_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.stack, pytest.mark.timeout(420)]

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "sdkbump"
FIXTURES = REPO / "tests" / "fixtures"
NODES = ["val-alice", "val-bob", "node-carol"]
UPGRADE = "v2-sdk50"
DENOM = "ustake"
DEPOSIT = f"10000000{DENOM}"
HOME = "/root/.bumpd"  # the kit's node home: /root/.<binary>
DAEMON_HOME = "/root/.bumpd-upgrade"
COSMOVISOR = "docker-compose-cosmovisor.json"
V2 = "docker-compose-v2.json"


def kit_profile(root: Path, project: str, base: int) -> Path:
    """profiles/sdkbump/rehearse.toml in ``root`` (its .kit/ and state land there) on
    this test's project and ports; the chain sources stay where they are."""
    text = (PROFILE / "rehearse.toml").read_text()
    text = text.replace('source = "chain-v1"', f'source = "{PROFILE / "chain-v1"}"')
    text = text.replace('source = "chain-v2"', f'source = "{PROFILE / "chain-v2"}"')
    text = text.replace("port_base = 26620", f"port_base = {base}")
    path = root / "rehearse.toml"
    path.write_text(text + f'\n[stack]\nproject = "{project}"\n')
    return path


@dataclass
class Bump:
    root: Path
    project: str
    ports: dict[str, int]
    rest_port: int
    password: str
    images: dict[str, str] = field(default_factory=dict)  # v1, v2: the kit's image tags
    env: dict[str, str] = field(default_factory=dict)
    recorded: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def testnet(self) -> Path:
        return self.root / ".kit"

    def rpc(self, node: str) -> str:
        return f"http://127.0.0.1:{self.ports[node]}"

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def compose(self, *args: str, overlay: str = COSMOVISOR,
                check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
        argv = [*compose_prefix(), "--project-name", self.project,
                "--file", str(self.testnet / "docker-compose.json"),
                "--file", str(self.testnet / overlay), *args]  # fmt: skip
        return subprocess.run(argv, env={**os.environ, **self.env}, capture_output=True,
                              text=True, timeout=180, check=check)  # fmt: skip

    def container(self, service: str, overlay: str = COSMOVISOR) -> str:
        out = self.compose("ps", "-q", service, overlay=overlay).stdout.split()
        assert out, f"no container for {service}"
        return out[0]

    def http(self, url: str, timeout: float = 5.0) -> tuple[int, Any]:
        """(status, JSON body or text); an HTTP error is an answer too."""
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def get(self, url: str) -> Any:
        status, body = self.http(url)
        assert status == 200, f"GET {url}: {status} {body}"
        return body

    def height(self, node: str) -> int:
        try:
            st = self.get(self.rpc(node) + "/status")
            return int(st["result"]["sync_info"]["latest_block_height"])
        except (OSError, ValueError, KeyError, AssertionError):
            return -1

    def wait(self, what: str, pred: Any, timeout: float, every: float = 0.5) -> Any:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = pred()
            if v:
                return v
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

    def record(self, line: str, name: str, path: str) -> tuple[int, Any]:
        """GET REST `path` on node-carol, keep the answer as fixture `line/name.json`."""
        status, body = self.http(self.rest + path)
        self.recorded.setdefault(line, {})[name] = {"path": path, "status": status}
        d = self.root / "fixtures" / line
        d.mkdir(parents=True, exist_ok=True)
        text = json.dumps(body, indent=2) if not isinstance(body, str) else body
        (d / f"{name}.json").write_text(text + "\n")
        return status, body

    def cli(self, image: str, *args: str, desk: str | None = None, secret: bool = False,
            check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
        argv = ["docker", "run", "--rm", "-i", "--network", f"{self.project}_net"]
        if desk:
            argv += ["-v", f"{self.testnet / desk}:{HOME}"]
        argv += [image, *args]
        r = subprocess.run(argv, input=(self.password + "\n") if secret else "",
                           capture_output=True, text=True, timeout=120)  # fmt: skip
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(args[:4])} exited {r.returncode}: {r.stderr[-600:]}")
        return r

    def tx(self, image: str, who: str, *args: str) -> dict[str, Any]:
        r = self.cli(
            image, "tx", *args,
            "--from", who, "--keyring-backend", "file", "--keyring-dir", f"{HOME}/keys",
            "--chain-id", "bump-1", "--node", "tcp://node-carol:26657",
            "--gas", "auto", "--gas-adjustment", "1.5", "--yes", "--output", "json",
            desk=f"desk-{who}", secret=True,
        )  # fmt: skip
        out: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
        assert int(out.get("code", 0)) == 0, out
        return out

    def down(self) -> None:
        if not (self.testnet / "docker-compose.json").exists():
            return
        for overlay in (COSMOVISOR, V2):
            self.compose("down", "--volumes", "--remove-orphans", "--timeout", "5",
                         overlay=overlay, check=False)  # fmt: skip


@pytest.fixture
def bump(tmp_path: Path) -> Iterator[Bump]:
    if shutil.which("docker") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker CLI missing")
        pytest.skip("docker CLI missing")
    prefix = os.environ.get("REHEARSE_TEST_PREFIX", "rhtest")
    project = f"{prefix}-sdkbump-{secrets.token_hex(3)}".lower()
    base = free_port_base(len(NODES))
    b = Bump(tmp_path, project, {n: base + i for i, n in enumerate(NODES)}, base + 102,
             password="pw-" + secrets.token_hex(8))  # fmt: skip
    b.env = {"REHEARSE_KEYRING_PASSWORD": b.password}
    profile = kit_profile(tmp_path, project, base)
    # The kit builds the binaries from the chain sources (cached), the images, the
    # homes and the Compose files: nothing of the profile is written by hand.
    built = subprocess.run([sys.executable, "-m", "agent", "kit", "build", "--config",
                            str(profile)], env={**os.environ, **b.env}, capture_output=True,
                           text=True, timeout=900)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    doc = json.loads((b.testnet / "docker-compose.json").read_text())
    v2 = json.loads((b.testnet / V2).read_text())
    b.images = {"v1": doc["services"]["val-alice"]["image"],
                "v2": v2["services"]["val-alice"]["image"]}  # fmt: skip
    try:
        yield b
    finally:
        b.down()
        if os.environ.get("REHEARSE_RECORD_FIXTURES") == "1" and b.recorded:
            for line, index in b.recorded.items():
                dest = FIXTURES / line
                dest.mkdir(parents=True, exist_ok=True)
                for f in (b.root / "fixtures" / line).glob("*.json"):
                    shutil.copy2(f, dest / f.name)
                (dest / "index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def address(b: Bump, who: str) -> str:
    return str(json.loads((b.testnet / f"desk-{who}" / "desk.json").read_text())["address"])


def abci_store_query(b: Bump, store: str) -> dict[str, Any]:
    """A raw store query over RPC: answers on a mounted store, errors on a deleted one."""
    q = urllib.parse.quote(f'"/store/{store}/subspace"')
    res: dict[str, Any] = b.get(b.rpc("node-carol") + f"/abci_query?path={q}&data=0x00")
    return dict(res["result"]["response"])


def test_sdkbump_v047_to_v050_with_store_upgrades(bump: Bump) -> None:
    b = bump
    t0 = time.monotonic()
    alice, bob = address(b, "alice"), address(b, "bob")
    b.compose("up", "-d")
    b.wait("every node past height 2", lambda: all(b.height(n) > 2 for n in NODES), 120)
    # REST answers 503 until its gRPC backend is up.
    b.wait("REST on v1", lambda: b.http(b.rest + "/cosmos/base/tendermint/v1beta1/node_info")[0]
           == 200, 60, every=1.0)  # fmt: skip

    # ---- v1: SDK v0.47.17 -------------------------------------------------------------
    ni = b.record("sdk047", "node_info", "/cosmos/base/tendermint/v1beta1/node_info")[1]
    assert ni["application_version"]["cosmos_sdk_version"] == "v0.47.17"
    assert ni["application_version"]["version"] == "v1"  # the kit's version of a source build
    assert abci_store_query(b, "crisis")["code"] == 0  # v1 mounts crisis
    b.record("sdk047", "gov_params_v1_voting", "/cosmos/gov/v1/params/voting")
    b.record("sdk047", "gov_params_v1_deposit", "/cosmos/gov/v1/params/deposit")
    b.record("sdk047", "gov_params_v1beta1_voting", "/cosmos/gov/v1beta1/params/voting")
    b.record("sdk047", "module_versions", "/cosmos/upgrade/v1beta1/module_versions")
    cp = b.record("sdk047", "consensus_params", "/cosmos/consensus/v1/params")[1]
    assert int(cp["params"]["block"]["max_gas"]) == -1  # already in x/consensus on v0.47
    assert b.record("sdk047", "circuit_accounts", "/cosmos/circuit/v1/accounts")[0] != 200

    # The v0.47 form: the legacy content proposal (tx upgrade has no software-upgrade on
    # v0.47.17). The v1 image's bumpd runs it; the tx goes through node-carol.
    h = b.height("node-carol")
    upgrade_height = h + 30
    b.tx(b.images["v1"], "alice", "gov", "submit-legacy-proposal", "software-upgrade", UPGRADE,
         "--upgrade-height", str(upgrade_height), "--upgrade-info", "{}",
         "--title", UPGRADE, "--description", "SDK v0.47 -> v0.50, circuit in, crisis out",
         "--deposit", DEPOSIT, "--no-validate")  # fmt: skip

    def status(pid: str) -> str:
        s, body = b.http(b.rest + f"/cosmos/gov/v1/proposals/{pid}")
        return str(body["proposal"]["status"]) if s == 200 else ""

    b.wait("proposal 1 in voting", lambda: status("1") == "PROPOSAL_STATUS_VOTING_PERIOD", 30)
    b.tx(b.images["v1"], "alice", "gov", "vote", "1", "yes")
    # Votes are deleted at tally: record one while the proposal is still voting.
    b.wait("alice's vote", lambda: b.http(b.rest + f"/cosmos/gov/v1/proposals/1/votes/{alice}")[0]
           == 200, 20)  # fmt: skip
    b.record("sdk047", "vote_v1", f"/cosmos/gov/v1/proposals/1/votes/{alice}")
    b.record("sdk047", "vote_v1beta1", f"/cosmos/gov/v1beta1/proposals/1/votes/{alice}")
    b.record("sdk047", "proposal_v1_voting", "/cosmos/gov/v1/proposals/1")
    b.record("sdk047", "proposal_v1beta1_voting", "/cosmos/gov/v1beta1/proposals/1")
    b.tx(b.images["v1"], "bob", "gov", "vote", "1", "yes")
    b.wait("PASSED", lambda: status("1") == "PROPOSAL_STATUS_PASSED", 60)
    assert b.height("node-carol") < upgrade_height - 1, "passed too late for the upgrade height"
    b.record("sdk047", "proposals_v1", "/cosmos/gov/v1/proposals")
    b.record("sdk047", "proposals_v1beta1", "/cosmos/gov/v1beta1/proposals")
    b.record("sdk047", "proposal_v1", "/cosmos/gov/v1/proposals/1")
    b.record("sdk047", "proposal_v1beta1", "/cosmos/gov/v1beta1/proposals/1")
    b.record("sdk047", "tally_v1", "/cosmos/gov/v1/proposals/1/tally")
    plan = b.record("sdk047", "current_plan", "/cosmos/upgrade/v1beta1/current_plan")[1]
    assert plan["plan"]["name"] == UPGRADE and int(plan["plan"]["height"]) == upgrade_height
    applied = b.record("sdk047", "applied_plan", f"/cosmos/upgrade/v1beta1/applied_plan/{UPGRADE}")
    assert int(applied[1]["height"]) == 0

    # ---- the halt at H, Cosmovisor's swap, v2 commits H ------------------------------
    b.wait("the halt", lambda: b.height("node-carol") >= upgrade_height - 1, 120)
    t_halt = time.monotonic()
    # A node that halted may already hold block H unexecuted: the block after H
    # is the proof that v2 runs.
    b.wait("v2 blocks", lambda: all(b.height(n) > upgrade_height for n in NODES), 120)
    halt_to_v2 = time.monotonic() - t_halt
    logs = b.compose("logs", "--no-color", "val-alice").stdout
    assert f'UPGRADE "{UPGRADE}" NEEDED at height: {upgrade_height}' in logs
    assert f'applying upgrade "{UPGRADE}" at height: {upgrade_height}' in logs
    for n in NODES:
        argv = ["docker", "exec", b.container(n), "readlink", f"{DAEMON_HOME}/cosmovisor/current"]
        link = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
        assert link.endswith(f"/cosmovisor/upgrades/{UPGRADE}"), (n, link)

    # REST may still be coming back after Cosmovisor's relaunch.
    b.wait("REST on v2", lambda: b.http(b.rest + "/cosmos/base/tendermint/v1beta1/node_info")[0]
           == 200, 60, every=1.0)  # fmt: skip
    ni2 = b.record("sdk050", "node_info", "/cosmos/base/tendermint/v1beta1/node_info")[1]
    assert ni2["application_version"]["cosmos_sdk_version"] == "v0.50.15"
    assert ni2["application_version"]["version"] == "v2"
    applied2 = b.record("sdk050", "applied_plan", f"/cosmos/upgrade/v1beta1/applied_plan/{UPGRADE}")
    assert int(applied2[1]["height"]) == upgrade_height
    assert b.record("sdk050", "current_plan", "/cosmos/upgrade/v1beta1/current_plan")[1] == {
        "plan": None
    }
    # Store upgrades: circuit (Added) answers, crisis (Deleted) is gone.
    s, accounts = b.record("sdk050", "circuit_accounts", "/cosmos/circuit/v1/accounts")
    assert s == 200 and "accounts" in accounts, accounts
    assert b.record("sdk050", "circuit_disable_list", "/cosmos/circuit/v1/disable_list")[0] == 200
    assert abci_store_query(b, "crisis")["code"] != 0
    assert abci_store_query(b, "circuit")["code"] == 0
    versions = b.record("sdk050", "module_versions", "/cosmos/upgrade/v1beta1/module_versions")[1]
    names = {m["name"]: int(m["version"]) for m in versions["module_versions"]}
    # circuit got InitGenesis through RunMigrations. crisis's entry stays: x/upgrade
    # writes the returned map entry by entry and never deletes one (a known SDK trait).
    assert names.get("circuit") == 1 and names["gov"] == 5 and names["auth"] == 5, names
    cp2 = b.record("sdk050", "consensus_params", "/cosmos/consensus/v1/params")[1]
    assert cp2["params"]["block"] == cp["params"]["block"]  # kept across the bump
    b.record("sdk050", "gov_params_v1_voting", "/cosmos/gov/v1/params/voting")
    b.record("sdk050", "gov_params_v1_deposit", "/cosmos/gov/v1/params/deposit")
    b.record("sdk050", "gov_params_v1beta1_voting", "/cosmos/gov/v1beta1/params/voting")
    b.record("sdk050", "proposals_v1", "/cosmos/gov/v1/proposals")
    b.record("sdk050", "proposals_v1beta1", "/cosmos/gov/v1beta1/proposals")
    b.record("sdk050", "proposal_v1_legacy", "/cosmos/gov/v1/proposals/1")
    b.record("sdk050", "proposal_v1beta1_legacy", "/cosmos/gov/v1beta1/proposals/1")

    # ---- down, up on plain v2: blocks resume -----------------------------------------
    last = max(b.height(n) for n in NODES)
    b.compose("down", "--timeout", "10")
    t_v2 = time.monotonic()
    b.compose("up", "-d", overlay=V2)
    b.wait("blocks after restart on v2", lambda: all(b.height(n) > last + 1 for n in NODES), 120)
    v2_restart = time.monotonic() - t_v2

    # The v0.50 form on v2 (gov v1 MsgSubmitProposal carrying MsgSoftwareUpgrade), for
    # the v0.50 fixtures of a live proposal and a vote. It never reaches its height.
    b.wait("REST after restart", lambda: b.http(b.rest + "/cosmos/gov/v1/params/voting")[0]
           == 200, 60, every=1.0)  # fmt: skip
    far = b.height("node-carol") + 100_000
    b.tx(b.images["v2"], "alice", "upgrade", "software-upgrade", "v3-never",
         "--upgrade-height", str(far), "--upgrade-info", "{}", "--title", "v3-never",
         "--summary", "fixture only", "--deposit", DEPOSIT, "--no-validate")  # fmt: skip
    b.wait("proposal 2 in voting", lambda: status("2") == "PROPOSAL_STATUS_VOTING_PERIOD", 30)
    b.tx(b.images["v2"], "alice", "gov", "vote", "2", "yes")
    b.wait("alice's vote on 2", lambda: b.http(b.rest + f"/cosmos/gov/v1/proposals/2/votes/{alice}")
           [0] == 200, 20)  # fmt: skip
    b.record("sdk050", "vote_v1", f"/cosmos/gov/v1/proposals/2/votes/{alice}")
    b.record("sdk050", "vote_v1beta1", f"/cosmos/gov/v1beta1/proposals/2/votes/{alice}")
    b.record("sdk050", "proposal_v1_voting", "/cosmos/gov/v1/proposals/2")
    b.record("sdk050", "proposal_v1beta1_voting", "/cosmos/gov/v1beta1/proposals/2")
    b.record("sdk050", "proposals_v1_with_msg", "/cosmos/gov/v1/proposals")
    b.record("sdk050", "proposals_v1beta1_with_msg", "/cosmos/gov/v1beta1/proposals")
    assert bob  # both desks exist; bob's vote on 1 was checked through the PASSED status
    b.compose("down", "--timeout", "5", overlay=V2)
    wall = time.monotonic() - t0
    print(f"\nfigures: halt->v2 {halt_to_v2:.1f}s, up -f v2->blocks {v2_restart:.1f}s, "
          f"wall {wall:.0f}s")  # fmt: skip
    assert wall < 300, f"the whole rehearsal took {wall:.0f}s (> 5 min)"
