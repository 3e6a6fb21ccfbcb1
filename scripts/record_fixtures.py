"""Record what a real node of one SDK line answers to everything the agent asks.

    PYTHONPATH=$PWD .venv/bin/python scripts/record_fixtures.py LINE BINARY OUT_DIR

Starts one validator of BINARY on 127.0.0.1 (``tests/integration/solo_chain.py``;
the genesis command forms come from the binary's own help), then, through the
agent's own code paths:

* signs the software-upgrade proposal and a vote with the agent's sign script
  (``agent.adapters.chaincli.SIGN_SCRIPT``, run on the host with BINARY) in the
  command form of LINE, and records each step's exit status and output (cli/);
* broadcasts the signed bytes over RPC and records ``broadcast_tx_sync`` and the
  ``tx`` lookups, events included, and the consensus round (rpc/);
* records the RPC methods the agent calls (status, abci_info, header, blockchain,
  block, commit, validators, an unknown tx) with their HTTP status, a NewBlock frame
  from the websocket, and every REST path the agent reads (rest/).

Each answer is one JSON file ``{"status": HTTP status, "body": ...}``, and recorded.json
names the binary's version and the day. Nothing is written by hand. Which binaries
record which line: tests/fixtures/README.md (``make fixtures`` records them all).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from agent.adapters.chaincli import SIGN_SCRIPT, TxArgs, build_chain_id, proposal_args, vote_args
from agent.adapters.rpc import tx_hash
from tests.integration.solo_chain import CHAIN_ID, start_solo_chain

GAS = "400000"
# Long enough that a loaded machine still reads the votes inside it: the recording
# once got 400 for a vote it had cast, because the tally had come first.
VOTING_PERIOD_S = 20


def http(url: str, data: bytes | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=data)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


class Recorder:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.index: dict[str, Any] = {}

    def save(self, name: str, status: int, body: Any, **meta: Any) -> Any:
        path = self.out / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"status": status, "body": body}, indent=2) + "\n")
        self.index[name] = {"status": status, **meta}
        return body

    def get(self, name: str, base: str, path: str) -> Any:
        status, body = http(base + path)
        return self.save(name, status, body, path=path)


def sign(binary: Path, desk: Path, args: TxArgs | list[str], *, address: str, account: int,
         sequence: int, chain_id: str, line: str) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """The agent's sign script, as the desk box runs it, with the host's binary."""
    doc = args.document if isinstance(args, TxArgs) else ""
    argv = ["sh", "-c", SIGN_SCRIPT, "sign", str(binary), address, "val", str(account),
            str(sequence), chain_id, GAS, str(desk), "test", doc,
            build_chain_id(line, chain_id), *args]  # type: ignore[arg-type]  # fmt: skip
    return subprocess.run(argv, input="", capture_output=True, text=True, timeout=120)


def wait_tx(rpc: str, h: str, deadline: float = 30.0) -> tuple[int, Any]:
    end = time.monotonic() + deadline
    while True:
        status, body = http(f"{rpc}/tx?hash=0x{h}")
        if isinstance(body, dict) and "result" in body:
            return status, body
        if time.monotonic() > end:
            raise TimeoutError(f"tx {h} not found: {body}")
        time.sleep(0.3)


def wait_tallied(api: str, deadline: float = VOTING_PERIOD_S + 40.0) -> None:
    """Until proposal 1 has left its voting period (the tally is at its end)."""
    end = time.monotonic() + deadline
    while True:
        for path in ("/cosmos/gov/v1beta1/proposals/1", "/cosmos/gov/v1/proposals/1"):
            status, body = http(api + path)
            if status == 200 and isinstance(body, dict):
                if body.get("proposal", {}).get("status") != "PROPOSAL_STATUS_VOTING_PERIOD":
                    return
        if time.monotonic() > end:
            raise TimeoutError(f"proposal 1 still in its voting period after {deadline:.0f}s")
        time.sleep(0.5)


def main(line: str, binary: Path, out: Path) -> None:
    binary = binary.resolve()
    for old in ("cli", "rpc", "rest"):  # this recorder's own files, nothing else
        shutil.rmtree(out / old, ignore_errors=True)
    rec = Recorder(out)
    with start_solo_chain(binary, timeout_commit="500ms", voting_period=f"{VOTING_PERIOD_S}s") as chain:
        rpc, api = chain.rpc_url, chain.api_url
        desk = Path(tempfile.mkdtemp(prefix="rehearse-record-desk-"))
        try:
            # The desk holds the validator's key in a test keyring at <desk>/keys, the
            # layout the sign script expects (--keyring-dir "$home/keys").
            (desk / "keys").mkdir()
            shutil.copytree(chain.home / "keyring-test", desk / "keys" / "keyring-test")
            shutil.copytree(chain.home / "config", desk / "config")
            addr = chain.validator_address
            # The REST gateway answers 503 until the app's gRPC server is up.
            account_path = f"/cosmos/auth/v1beta1/accounts/{addr}"
            end = time.monotonic() + 30
            while http(api + account_path)[0] != 200 and time.monotonic() < end:
                time.sleep(0.3)
            acct = rec.get("rest/auth_account", api, account_path)
            account = acct["account"]
            number = int(account.get("account_number", 0))
            sequence = int(account.get("sequence", 0))

            status = http(f"{rpc}/status")[1]
            height = int(status["result"]["sync_info"]["latest_block_height"])
            deposit = f"10000000{chain.denom}"
            kinds: list[tuple[str, TxArgs | list[str]]] = [
                (
                    "proposal",
                    proposal_args("v1tov2", height + 1000, "fixture upgrade", deposit, line=line),
                ),  # type: ignore[arg-type]  # fmt: skip
                ("vote", vote_args(1, "yes")),
            ]
            for kind, args in kinds:
                r = sign(binary, desk, args, address=addr, account=number, sequence=sequence,
                         chain_id=CHAIN_ID, line=line)  # fmt: skip
                rec.save(f"cli/sign_{kind}", r.returncode,
                         {"args": list(args), "stdout": r.stdout[-4000:],
                          "stderr": r.stderr[-4000:]})  # fmt: skip
                if r.returncode != 0:
                    raise SystemExit(f"sign {kind} failed: {r.stderr[-2000:]}")
                tx = base64.b64decode(r.stdout.strip().splitlines()[-1])
                h = tx_hash(tx)
                body = json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "broadcast_tx_sync",
                        "params": {"tx": base64.b64encode(tx).decode()},
                    }
                ).encode()
                s, b = http(rpc, body)
                rec.save(f"rpc/broadcast_tx_sync_{kind}", s, b, hash=h)
                s, b = wait_tx(rpc, h)
                rec.save(f"rpc/tx_{kind}", s, b, hash=h)
                s, b = http(rpc, body)  # the same bytes again
                rec.save(f"rpc/broadcast_tx_sync_{kind}_again", s, b, hash=h)
                sequence += 1
                time.sleep(1.2)

            # Read in the voting period, right after the vote (SDK v0.45 and v0.46
            # delete the votes at the tally); the passed reads come once it has ended.
            voting = {
                "gov_v1_vote": f"/cosmos/gov/v1/proposals/1/votes/{addr}",
                "gov_v1beta1_vote": f"/cosmos/gov/v1beta1/proposals/1/votes/{addr}",
                "gov_v1_proposal_voting": "/cosmos/gov/v1/proposals/1",
                "gov_v1beta1_proposal_voting": "/cosmos/gov/v1beta1/proposals/1",
                "gov_v1_proposals_voting": "/cosmos/gov/v1/proposals",
                "gov_v1beta1_proposals_voting": "/cosmos/gov/v1beta1/proposals",
            }
            for name, path in voting.items():
                rec.get(f"rest/{name}", api, path)
            rec.get("rpc/tx_unknown", rpc, "/tx?hash=0x" + "AB" * 32)
            tip = int(http(f"{rpc}/status")[1]["result"]["sync_info"]["latest_block_height"])
            for name, path in {
                "status": "/status",
                "abci_info": "/abci_info",
                "header": f"/header?height={tip}",
                "header_latest": "/header",
                "blockchain": f"/blockchain?minHeight={tip - 2}&maxHeight={tip}",
                "blockchain_inverted": f"/blockchain?minHeight={tip + 5}&maxHeight={tip + 1}",
                "block": f"/block?height={tip}",
                "commit": f"/commit?height={tip}",
                "validators": f"/validators?height={tip}",
                "abci_query_balance": "/abci_query?path=%22/store/bank/key%22&data=0x00",
                # The round the node works on, with its votes (the halt probe's read).
                "dump_consensus_state": "/dump_consensus_state",
            }.items():
                rec.get(f"rpc/{name}", rpc, path)
            with connect(chain.ws_url, open_timeout=10) as ws:
                ws.send(
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": 0,
                            "method": "subscribe",
                            "params": {"query": "tm.event='NewBlock'"},
                        }
                    )
                )
                frames = [json.loads(ws.recv(timeout=10)) for _ in range(2)]
            rec.save("rpc/ws_subscribe", 200, frames[0])
            rec.save("rpc/ws_new_block", 200, frames[1])

            wait_tallied(api)
            paths = {
                "node_info": "/cosmos/base/tendermint/v1beta1/node_info",
                "gov_v1_proposals": "/cosmos/gov/v1/proposals",
                "gov_v1_proposal": "/cosmos/gov/v1/proposals/1",
                "gov_v1_proposal_missing": "/cosmos/gov/v1/proposals/99",
                "gov_v1beta1_proposals": "/cosmos/gov/v1beta1/proposals",
                "gov_v1beta1_proposal": "/cosmos/gov/v1beta1/proposals/1",
                "gov_v1beta1_proposal_missing": "/cosmos/gov/v1beta1/proposals/99",
                "gov_v1_params_voting": "/cosmos/gov/v1/params/voting",
                "gov_v1beta1_params_voting": "/cosmos/gov/v1beta1/params/voting",
                "gov_v1_params_deposit": "/cosmos/gov/v1/params/deposit",
                "gov_v1beta1_params_deposit": "/cosmos/gov/v1beta1/params/deposit",
                "gov_v1_vote_after_tally": f"/cosmos/gov/v1/proposals/1/votes/{addr}",
                "gov_v1beta1_vote_after_tally": f"/cosmos/gov/v1beta1/proposals/1/votes/{addr}",
                "gov_v1_vote_missing": f"/cosmos/gov/v1/proposals/99/votes/{addr}",
                "gov_v1beta1_vote_missing": f"/cosmos/gov/v1beta1/proposals/99/votes/{addr}",
                "bank_balance": f"/cosmos/bank/v1beta1/balances/{addr}/by_denom"
                f"?denom={chain.denom}",
                "bank_balances": f"/cosmos/bank/v1beta1/balances/{addr}",
                "upgrade_current_plan": "/cosmos/upgrade/v1beta1/current_plan",
                "upgrade_applied_plan": "/cosmos/upgrade/v1beta1/applied_plan/v1tov2",
                "upgrade_module_versions": "/cosmos/upgrade/v1beta1/module_versions",
                "staking_pool": "/cosmos/staking/v1beta1/pool",
            }
            for name, path in paths.items():
                rec.get(f"rest/{name}", api, path)
            # The help texts the kit reads its command forms from (agent/kit/forms.py).
            for name, args in (("top", []), ("genesis", ["genesis"]), ("init", ["init"])):
                r = subprocess.run([str(binary), *args, "--help"], capture_output=True,
                                   text=True, timeout=30)  # fmt: skip
                rec.save(f"cli/help_{name}", r.returncode, r.stdout + r.stderr)
            version = subprocess.run([str(binary), "version"], capture_output=True, text=True)
            rec.index["_source"] = {
                "line": line,
                "binary": binary.name,
                "version": (version.stdout + version.stderr).strip(),
                "cosmos_sdk_version": http(api + paths["node_info"])[1]
                .get("application_version", {})
                .get("cosmos_sdk_version"),
                "recorded": time.strftime("%Y-%m-%d"),
                "by": "scripts/record_fixtures.py",
            }
            text = json.dumps(rec.index, indent=2, sort_keys=True) + "\n"
            (out / "recorded.json").write_text(text)
        finally:
            shutil.rmtree(desk, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
