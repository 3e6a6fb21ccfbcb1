"""Every SDK line the agent claims, on a real node of that line.

For each line's binary (tests/fixtures/README.md), ``scripts/record_fixtures.py``
runs a node and takes its answers through the agent's own paths: the sign script in
the line's command form, the broadcast, the tx lookup, the REST reads. Then the
agent's parsers read the fresh answers. A line whose node changed its answers since
the fixtures were recorded fails here, not in a rehearsal.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.rpc import parse_header, plain_events
from agent.runtime.executors.txs import event_attr as _event_attr

pytestmark = [pytest.mark.chain, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # scripts/ is not a package

LINES = {
    "v0.45": REPO / "build" / "sdk-lines" / "simd-v0.45.16",
    "v0.46": REPO / "build" / "sdk-lines" / "simd-v0.46.16",
    "v0.47": REPO / "profiles" / "sdkbump" / "build" / "bumpd-v1",
    "v0.50": REPO / "profiles" / "sdkbump" / "build" / "bumpd-v2",
    "v0.53": REPO / "prod-sim" / "build" / "checkersd-v1",
}


def _binary(line: str) -> Path:
    binary = LINES[line]
    if not os.access(binary, os.X_OK):
        reason = f"{binary} is missing: run `make sdk-lines prod-sim profile-sdkbump`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


@pytest.fixture(params=sorted(LINES), scope="module")
def recording(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[tuple[str, Path]]:
    from scripts.record_fixtures import main as record

    line: str = request.param
    out = tmp_path_factory.mktemp(f"rec{line.replace('.', '')}")
    record(line, _binary(line), out)
    yield line, out


def _body(out: Path, name: str) -> Any:
    return json.loads((out / f"{name}.json").read_text())


def test_the_agent_signs_sends_and_reads_on_every_line(recording: tuple[str, Path]) -> None:
    line, out = recording
    for kind in ("proposal", "vote"):
        sign = _body(out, f"cli/sign_{kind}")
        assert sign["status"] == 0, sign["body"]["stderr"][-800:]
        sent = _body(out, f"rpc/broadcast_tx_sync_{kind}")["body"]["result"]
        assert int(sent["code"]) == 0, sent
    tx = _body(out, "rpc/tx_proposal")["body"]["result"]["tx_result"]
    assert _event_attr(plain_events(tx["events"]), "submit_proposal", "proposal_id") == "1"
    metas = _body(out, "rpc/blockchain")["body"]["result"]["block_metas"]
    assert parse_header(metas[0]["header"], "blockchain").height > 0
    gov = "v1beta1" if line == "v0.45" else "v1"
    proposal = _body(out, f"rest/gov_{gov}_proposal")
    assert proposal["status"] == 200
    assert proposal["body"]["proposal"]["status"] == "PROPOSAL_STATUS_PASSED"


def test_the_committed_recordings_match_the_nodes(recording: tuple[str, Path]) -> None:
    # The same names and HTTP statuses as the committed fixtures of that line.
    line, out = recording
    committed = REPO / "tests" / "fixtures" / f"sdk0{line.split('.')[1]}" / "recorded.json"
    if not committed.exists():
        pytest.skip(f"no committed recording for {line} in this format")
    want = {k: v["status"] for k, v in json.loads(committed.read_text()).items() if k[0] != "_"}
    got = {k: v["status"] for k, v in _body(out, "recorded").items() if k[0] != "_"}
    assert got == want


@pytest.mark.parametrize(
    ("line", "name", "prefix", "denom"),
    [
        ("v0.45", "simd", "cosmos", "stake"),
        ("v0.46", "simd", "cosmos", "stake"),
        ("v0.47", "bumpd", "bump", "ustake"),
        ("v0.50", "bumpd", "bump", "ustake"),
        ("v0.53", "checkersd", "cosmos", "upawn"),
    ],
)
def test_init_chain_probes_each_line(line: str, name: str, prefix: str, denom: str) -> None:
    from agent.kit.probe import probe

    facts = probe(_binary(line))
    assert (facts.name, facts.bech32_prefix, facts.denom) == (name, prefix, denom)
    assert facts.line == ("v0.50" if line == "v0.53" else line)
