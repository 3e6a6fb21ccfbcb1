"""Record the REST answers the agent parses from a real chain (one solo validator).

    PYTHONPATH=$PWD python scripts/record_rest_fixtures.py tests/fixtures/sdk053

Starts the solo chain of tests/integration (prod-sim/build/checkersd-v1), submits a
software-upgrade proposal (msg-based; a legacy text proposal never landed on this
0.53 chain, so MsgExecLegacyContent comes from the sdk047/sdk050 recordings), votes on it, and writes each GET's JSON body to <dir>/<name>.json, plus
index.json (name -> path, HTTP status). The chain is torn down at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.integration.solo_chain import CHAIN_ID, DENOM, find_binary, start_solo_chain


def _get(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def main(out: Path) -> None:
    binary = find_binary()
    if binary is None:
        raise SystemExit("prod-sim/build/checkersd-v1 missing")
    out.mkdir(parents=True, exist_ok=True)
    with start_solo_chain(binary, timeout_commit="500ms") as chain:
        home = str(chain.home)

        def tx(*args: str) -> None:
            r = subprocess.run(
                [str(binary), "tx", *args, "--from", "val", "--keyring-backend", "test",
                 "--home", home, "--node", chain.rpc_url, "--chain-id", CHAIN_ID,
                 "--gas", "400000", "--yes", "--output", "json"],
                capture_output=True, text=True, timeout=60, check=False,
            )
            doc = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
            if r.returncode != 0 or doc.get("code", 0) != 0:
                raise RuntimeError(f"tx {args[:3]}: {r.stdout[-800:]} {r.stderr[-800:]}")
            time.sleep(2.5)

        tx("upgrade", "software-upgrade", "v1tov2", "--upgrade-height", "100000",
           "--upgrade-info", '{"binaries":{"linux/amd64":"https://example.com/v2?checksum=sha256:'
           + "0" * 64 + '"}}', "--title", "v1tov2", "--summary", "fixture upgrade",
           "--deposit", f"10000000{DENOM}", "--no-validate")
        tx("gov", "vote", "1", "yes")
        addr = chain.validator_address
        api = chain.api_url
        paths = {
            "node_info": "/cosmos/base/tendermint/v1beta1/node_info",
            "gov_v1_proposals": "/cosmos/gov/v1/proposals",
            "gov_v1_proposal_upgrade": "/cosmos/gov/v1/proposals/1",
            "gov_v1_proposal_missing": "/cosmos/gov/v1/proposals/99",
            "gov_v1beta1_proposals": "/cosmos/gov/v1beta1/proposals",
            "gov_v1beta1_proposal_upgrade": "/cosmos/gov/v1beta1/proposals/1",
            "gov_v1_params_voting": "/cosmos/gov/v1/params/voting",
            "gov_v1beta1_params_voting": "/cosmos/gov/v1beta1/params/voting",
            "gov_v1_vote": f"/cosmos/gov/v1/proposals/1/votes/{addr}",
            "gov_v1beta1_vote": f"/cosmos/gov/v1beta1/proposals/1/votes/{addr}",
            "gov_v1_vote_missing": f"/cosmos/gov/v1/proposals/99/votes/{addr}",
            "gov_v1beta1_vote_missing": f"/cosmos/gov/v1beta1/proposals/99/votes/{addr}",
            "auth_account": f"/cosmos/auth/v1beta1/accounts/{addr}",
            "upgrade_current_plan": "/cosmos/upgrade/v1beta1/current_plan",
        }
        index = {}
        for name, path in paths.items():
            status, body = _get(api + path)
            (out / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n")
            index[name] = {"path": path, "status": status}
        index["_source"] = {"binary": str(binary.name), "recorded": time.strftime("%Y-%m-%d")}
        (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
