"""Scenarios: failures rehearsed on purpose, each with the outcome it must have.

A scenario changes what the machine does (faults injected at a phase, vote
options, following a rejection, remediating nodes that did not resume) and
says what must happen (``Expectation``). ``agent.core.verdict`` compares the
end of a rehearsal with it; the report carries the verdict and the exit code
follows it. Nodes are named through ``Roles``, which the configuration fills: the
scenarios know parts (a validator, the transaction node), not a chain.

Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from agent.core.actions import InjectFault, RemediateNodes
from agent.core.machine import FaultPlan, Params, Phase
from agent.core.verdict import Expectation

__all__ = [
    "Roles",
    "SCENARIO_NAMES",
    "Scenario",
    "apply",
    "build",
    "plan_checksum",
]


@dataclass(frozen=True, slots=True)
class Roles:
    """Which configured node plays which part."""

    validators: tuple[str, ...]
    tx_node: str
    voters: tuple[str, ...]
    no_cosmovisor_node: str = ""
    no_cosmovisor_overlay: str = ""  # Compose file: that node on the old binary, no Cosmovisor
    divergent_overlay: str = ""  # Compose file: the last validator on a v2 built differently
    late_overlay: str = ""  # Compose file: the last validator on plain v1, no Cosmovisor
    late_blocks: int = 10  # late-validator: blocks past the upgrade before its swap
    # auto-download: the last validator's Cosmovisor fetches v2 from download_url (a
    # server on the stack's network, from this overlay), checked against a SHA-256.
    download_overlay: str = ""
    download_url: str = ""
    download_sha256: str = ""  # v2's
    other_sha256: str = ""  # another build's (v1's): the wrong checksum
    pause_s: float = 35.0
    disconnect_s: float = 20.0
    lone_peer: str = ""  # the last validator's only peer (its sentry)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    summary: str
    injected: str
    expected: str  # the expectation, for people
    expectation: Expectation
    faults: tuple[FaultPlan, ...] = ()
    vote_options: tuple[tuple[str, str], ...] = ()
    expect_rejection: bool = False
    remediate: bool = False
    launch_overlays: tuple[str, ...] = ()
    upgrade_info: str = ""  # the plan's info, over the configured one
    download_nodes: tuple[str, ...] = ()
    supervised: bool = False  # the agent itself is killed and restarted by a supervisor


SCENARIO_NAMES: tuple[str, ...] = (
    "happy",
    "carol-without-cosmovisor",
    "rejected",
    "validator-missing-binary",
    "validator-paused",
    "tx-node-loss",
    "agent-crash",
    "stream-cuts",
    "sentry-lost",
    "node-stopped",
    "restart-in-window",
    "mixed-binary",
    "late-validator",
    "auto-download",
    "auto-download-bad-checksum",
)


def build(name: str, roles: Roles) -> Scenario:
    """The scenario ``name`` for these roles (``KeyError``: no such scenario)."""
    v0 = roles.validators[0] if roles.validators else ""
    v_last = roles.validators[-1] if roles.validators else ""
    tx = roles.tx_node
    restarted = Expectation(Phase.RESTARTED)
    if name == "happy":
        return Scenario(
            name,
            "the upgrade as planned",
            "nothing",
            "every phase to restarted; no alert fires",
            replace(restarted, no_other_alerts=True),
        )
    if name == "carol-without-cosmovisor":
        node = roles.no_cosmovisor_node
        return Scenario(
            name,
            f"{node} runs the old binary without Cosmovisor (the tutorial's own example)",
            f"{node} launched from {roles.no_cosmovisor_overlay} (plain v1, no Cosmovisor)",
            f"{node} halts at the upgrade height without swapping; an upgrade_halt alert "
            f"names its binary; the agent swaps {node} to v2, it catches up, and the "
            "rehearsal reaches restarted",
            replace(restarted, alerts=(("upgrade_halt", node),)),
            remediate=True,
            launch_overlays=(roles.no_cosmovisor_overlay,),
        )
    if name == "rejected":
        options = [(roles.voters[0], "abstain")] + [(v, "no") for v in roles.voters[1:]]
        return Scenario(
            name,
            "the proposal is voted down",
            ", ".join(f"{v} votes {o}" for v, o in options),
            "the proposal ends REJECTED; the chain runs past the planned height on the old "
            "binary and nothing upgrades (the rehearsal ends failed, as expected)",
            Expectation(Phase.FAILED, failure_contains=("REJECTED", "nothing upgraded")),
            vote_options=tuple(options),
            expect_rejection=True,
        )
    if name == "validator-missing-binary":
        return Scenario(
            name,
            f"{v_last}'s Cosmovisor has no new binary",
            # After the proposal: at launch, the staged check would refuse to go on.
            f"the upgrade binary removed from {v_last}'s Cosmovisor once the proposal is in",
            f"at the upgrade height Cosmovisor on {v_last} exits; the rehearsal fails at "
            f"once, naming {v_last}, its exit code and Cosmovisor's reason, and a "
            f"container_died alert names {v_last}",
            Expectation(
                Phase.FAILED,
                failure_contains=(v_last, "exited"),
                alerts=(("container_died", v_last),),
            ),
            faults=(
                FaultPlan(
                    "proposed",
                    InjectFault(f"remove_upgrade_binary:{v_last}", "remove_upgrade_binary", v_last),
                ),
            ),
        )
    if name == "validator-paused":
        return Scenario(
            name,
            f"{v0} freezes during the vote",
            f"{v0}'s container paused for {roles.pause_s:.0f} s when the proposal is submitted",
            f"the chain halts: one chain_halt alert, naming {v0} as the missing voter, "
            "fires once and resolves once, and nothing else fires; the rehearsal reaches "
            "restarted",
            replace(
                restarted,
                alerts=(("chain_halt", ""),),
                resolved=True,
                no_other_alerts=True,
                alert_mentions=(v0,),
            ),
            faults=(FaultPlan("proposed", InjectFault(f"pause:{v0}", "pause", v0, roles.pause_s)),),
        )
    if name == "tx-node-loss":
        return Scenario(
            name,
            f"{tx}, the node that takes transactions and serves REST, goes away",
            f"{tx} cut from its networks for {roles.disconnect_s:.0f} s when the proposal is "
            "submitted, then stopped for good when it passes",
            "the agent fails over to the other nodes' RPC and REST and reaches restarted "
            f"without {tx}",
            restarted,
            faults=(
                FaultPlan(
                    "proposed",
                    InjectFault(f"disconnect:{tx}", "disconnect", tx, roles.disconnect_s),
                ),
                FaultPlan("passed", InjectFault(f"stop:{tx}", "stop", tx)),
            ),
        )
    if name == "sentry-lost":
        peer = roles.lone_peer
        return Scenario(
            name,
            f"{peer}, {v_last}'s only peer, is stopped by someone else",
            f"{peer}'s container stopped when the proposal is submitted (the agent is not "
            "told: as an operator's mistake would)",
            f"{v_last} is cut off and the chain halts; the rehearsal fails, and its reason "
            f"leads with the halted chain and {peer}'s stopped container, not with the "
            "action that waited (the rehearsal ends failed, as expected)",
            Expectation(
                Phase.FAILED, failure_contains=("chain halted", f"{peer}'s container was stopped")
            ),
            faults=(
                FaultPlan("proposed", InjectFault(f"stop_unseen:{peer}", "stop_unseen", peer)),
            ),
        )
    if name == "node-stopped":
        return Scenario(
            name,
            f"{tx} is stopped by someone else after the votes",
            f"{tx}'s container stopped once every vote is in (the agent is not told)",
            f"{tx} never executes the upgrade height; the rehearsal fails, and its reason "
            f"leads with {tx}'s stopped container (the rehearsal ends failed, as expected)",
            Expectation(Phase.FAILED, failure_contains=(f"{tx}'s container was stopped", tx)),
            faults=(FaultPlan("voted", InjectFault(f"stop_unseen:{tx}", "stop_unseen", tx)),),
        )
    if name == "restart-in-window":
        return Scenario(
            name,
            f"{v_last} crashes and restarts between the halt and Cosmovisor's swap",
            f"{v_last}'s container killed (SIGKILL) as soon as the halt writes "
            "upgrade-info.json, then started again",
            f"Cosmovisor on {v_last} starts over in the middle of its upgrade. If it swaps, "
            "every node ends on the upgrade's binary (cosmovisor/current checked on each). "
            "If it relaunches the old binary and then exits (cosmos-sdk #25861; v1.5.0 "
            f"does, depending on timing), the rehearsal names {v_last}'s exit and the agent "
            f"swaps {v_last} to v2 by hand, as an operator would. Restarted either way, and "
            "the report says which",
            restarted,
            faults=(
                FaultPlan(
                    "halt", InjectFault(f"kill_in_window:{v_last}", "kill_in_window", v_last)
                ),
            ),
            remediate=True,
        )
    if name == "mixed-binary":
        return Scenario(
            name,
            f"{v_last} runs a v2 that computes another state under transactions",
            f"{v_last}'s Cosmovisor stages a v2 built differently, from "
            f"{roles.divergent_overlay}: it agrees with the real v2 until a transaction is "
            "delivered (each one writes one more key)",
            f"once v2 runs and the traffic's transactions land, {v_last}'s app hash differs "
            "from the other nodes' after the same block and the chain stops (no side holds "
            f"two-thirds of the power); the rehearsal fails at once, naming {v_last} as the "
            "node that diverged, with both hashes (the rehearsal ends failed, as expected)",
            # The split may be found by the upgrade's app_hash_agree check, which then
            # fails, or by the watchdog after it: either way the reason names it.
            Expectation(
                Phase.FAILED,
                failure_contains=("app hashes diverge", f"{v_last} diverged"),
                checks_pass=False,
            ),
            launch_overlays=(roles.divergent_overlay,),
        )
    if name == "late-validator":
        n = roles.late_blocks
        return Scenario(
            name,
            f"{v_last} upgrades late, by hand",
            f"{v_last} runs plain v1 without Cosmovisor ({roles.late_overlay}); its "
            f"operator swaps it to v2 by hand {n} blocks after the upgrade height",
            f"{v_last} halts at the upgrade height while the other validators, with more "
            "than two-thirds of the power, upgrade and go on; one missed_blocks alert names "
            f"{v_last} and resolves once it signs again after its swap, and nothing else "
            "fires; the report counts its missed blocks; restarted",
            replace(
                restarted,
                alerts=(("missed_blocks", v_last),),
                resolved=True,
                no_other_alerts=True,
            ),
            faults=(FaultPlan(f"upgrade+{n}", RemediateNodes((v_last,))),),
            launch_overlays=(roles.late_overlay,),
        )
    if name in ("auto-download", "auto-download-bad-checksum"):
        good = name == "auto-download"
        digest = roles.download_sha256 if good else roles.other_sha256
        url = f"{roles.download_url}?checksum=sha256:{digest}"
        info = json.dumps({"binaries": {"any": url}}, sort_keys=True)
        summary = f"{v_last}'s Cosmovisor downloads v2 at the halt" + (
            "" if good else ", and the plan's checksum is another build's"
        )
        injected = (
            f"nothing staged on {v_last}, downloads allowed ({roles.download_overlay}); the "
            f"plan's info names {roles.download_url}, served on the stack's network, with "
            + (
                "v2's SHA-256"
                if good
                else "the SHA-256 of another build (v1's), as a "
                "release that published another architecture's checksum"
            )  # fmt: skip
        )
        if good:
            return Scenario(
                name,
                summary,
                injected,
                f"at the halt Cosmovisor on {v_last} downloads v2, checks it and swaps by "
                "itself; every node ends on the upgrade's binary; no alert fires; restarted",
                replace(restarted, no_other_alerts=True),
                launch_overlays=(roles.download_overlay,),
                upgrade_info=info,
                download_nodes=(v_last,),
            )
        return Scenario(
            name,
            summary,
            injected,
            f"at the halt Cosmovisor on {v_last} refuses the download (checksums do not "
            f"match) and exits; the rehearsal fails at once naming {v_last}, its exit and "
            "Cosmovisor's reason (the rehearsal ends failed, as expected)",
            Expectation(
                Phase.FAILED, failure_contains=(f"{v_last} exited", "Checksums did not match")
            ),
            launch_overlays=(roles.download_overlay,),
            upgrade_info=info,
            download_nodes=(v_last,),
        )
    if name == "agent-crash":
        return Scenario(
            name,
            "the agent is killed with SIGKILL at random moments and restarted",
            "SIGKILL of the agent at random moments, one inside a broadcast",
            "the rehearsal reaches restarted with exactly one proposal and one vote per voter",
            restarted,
            supervised=True,
        )
    if name == "stream-cuts":
        cuts = tuple(
            FaultPlan(phase, InjectFault(f"cut_streams:{phase}", "cut_streams"))
            for phase in ("proposed", "passed", "upgraded")
        )
        return Scenario(
            name,
            "every event stream is cut and restored mid-rehearsal",
            "every websocket and the Docker events stream closed by the agent's own proxy "
            "when the proposal is submitted, when it passes and after the upgrade",
            "the streams reconnect; no phase is missed, no alert fires; restarted",
            replace(restarted, no_other_alerts=True),
            faults=cuts,
        )
    raise KeyError(name)


def apply(scenario: Scenario, params: Params) -> Params:
    """The machine's parameters for ``scenario``."""
    return replace(
        params,
        scenario=scenario.name,
        vote_options=scenario.vote_options,
        faults=scenario.faults,
        expect_rejection=scenario.expect_rejection,
        remediate=scenario.remediate,
        launch_overlays=scenario.launch_overlays,
        upgrade_info=scenario.upgrade_info,
        download_nodes=scenario.download_nodes,
    )


def plan_checksum(info: str) -> str:
    """The SHA-256 a plan's info gives its binaries (``?checksum=sha256:...``; ""
    without one)."""
    try:
        binaries = json.loads(info).get("binaries") or {}
    except (ValueError, AttributeError):
        return ""
    for url in binaries.values() if isinstance(binaries, dict) else ():
        _, _, query = str(url).partition("?")
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if key == "checksum" and value.startswith("sha256:"):
                return value.removeprefix("sha256:").lower()
    return ""
