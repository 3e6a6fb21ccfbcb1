"""The handlers only a scenario reaches: faults injected, nodes remediated, a
rejected proposal followed to its end, a node that exits during the upgrade.

Pure, no I/O. ``scenario_faults`` runs after every step: it injects the faults
whose trigger (a phase entered, the stack launched, the halt) the step reached.
"""

from __future__ import annotations

from dataclasses import replace

from agent.core.actions import (
    Action,
    ExplainExit,
    RemediateNodes,
    VerifyNoUpgrade,
)
from agent.core.facts import (
    ExitExplained,
    Fact,
    FaultInjected,
    HeightObserved,
    NodeExited,
    NodesRemediated,
    NoUpgradeVerified,
    StackLaunched,
)
from agent.core.state import (
    Phase,
    Result,
    State,
    complete,
    fail,
    issue,
)


def fault_injected(state: State, fact: FaultInjected) -> Result:
    state = complete(state, f"fault:{fact.name}")
    if any(name == fact.name for name, _ in state.faults_done):
        return state, ()
    return replace(
        state,
        faults_done=state.faults_done + ((fact.name, fact.detail),),
        absent=state.absent | frozenset(fact.absent),
    ), ()


def nodes_remediated(state: State, fact: NodesRemediated) -> Result:
    state = complete(state, RemediateNodes(fact.nodes).key)
    return replace(state, remediated=tuple(sorted(set(state.remediated) | set(fact.nodes)))), ()


def no_upgrade_verified(state: State, fact: NoUpgradeVerified) -> Result:
    state = replace(complete(state, VerifyNoUpgrade.KEY), upgrade_checks=fact.checks)
    failed = [c.name for c in fact.checks if not c.passed]
    verdict = "and nothing upgraded" if not failed else "but checks failed: " + ", ".join(failed)
    return fail(state, fact, f"proposal {state.proposal_id} ended {state.rejected} {verdict}")


def node_exited(state: State, fact: NodeExited) -> Result:
    """A node died on its own while the upgrade is under way. Unless a scenario stopped
    it, or nodes that do not resume are to be remediated, waiting out the upgrade
    deadline would only hide the cause (Cosmovisor exits when the plan's binary is
    missing): find the cause and fail at once."""
    p = state.params
    if fact.node in state.absent or p.remediate or p.expect_rejection:
        return state, ()
    return issue(state, ExplainExit(fact.node, fact.container_id, fact.exit_code))


def exit_explained(state: State, fact: ExitExplained) -> Result:
    state = complete(state, f"explain_exit:{fact.node}")
    code = "?" if fact.exit_code is None else str(fact.exit_code)
    return fail(
        state,
        fact,
        f"{fact.node} exited (exit code {code}) during the upgrade to "
        f"{state.params.upgrade_name} at height {state.upgrade_height}: {fact.reason}",
    )


def scenario_faults(old: State, new: State, actions: tuple[Action, ...], fact: Fact) -> Result:
    """Inject the scenario's faults whose trigger this step reached (once each)."""
    if not new.params.faults or new.terminal:
        return new, actions
    triggers = {t.to_phase.value for t in new.transitions[len(old.transitions) :]}
    if isinstance(fact, StackLaunched):
        triggers.add("stack_launched")
    if (
        isinstance(fact, HeightObserved)
        and new.phase is Phase.PASSED
        and new.upgrade_height is not None
        and fact.height >= new.upgrade_height - 1
    ):
        triggers.add("halt")
        past = fact.height - new.upgrade_height
        triggers |= {
            p.trigger
            for p in new.params.faults
            if (n := blocks_after_upgrade(p.trigger)) is not None and past >= n
        }
    due = [plan.fault for plan in new.params.faults if plan.trigger in triggers]
    if not due:
        return new, actions
    new, more = issue(new, *due)
    return new, actions + more


def blocks_after_upgrade(trigger: str) -> int | None:
    """N for an ``"upgrade+N"`` trigger (None: another trigger)."""
    head, _, n = trigger.partition("+")
    return int(n) if head == "upgrade" and n.isdigit() else None
