"""Watch mode's not_staged warning: a local node without the plan's binary."""

from __future__ import annotations

from agent.core.chainview import ChainView
from agent.core.conditions import UpgradeContext
from agent.core.detectors import Watchdog
from agent.core.observations import NewBlock, StagedSeen
from agent.core.staged import StagedWatch

PATH = "/root/.d-upgrade/cosmovisor/upgrades/v2/bin/d"


def view_at(height: int) -> ChainView:
    v = ChainView(["val-a", "val-b"])
    for n in v.nodes:
        v.observe(NewBlock(n, height, "", 100.0))
    return v


def test_a_node_without_the_binary_is_warned_until_the_height() -> None:
    w = StagedWatch()
    w.observe(StagedSeen("val-a", "v2", True, "", 1.0))
    w.observe(StagedSeen("val-b", "v2", False, PATH, 1.0))
    (c,) = w.conditions(view_at(90), "v2", 100, 6.0)
    assert (c.key, c.severity) == ("not_staged:val-b:-", "warning")
    assert c.message == (
        f"val-b has nothing staged for upgrade v2 at height 100 (in 10 blocks, about 1 min): "
        f"no {PATH}; Cosmovisor will exit at the halt"
    )
    assert w.conditions(view_at(100), "v2", 100, 6.0) == []  # the height: upgrade_halt's turn
    assert w.conditions(view_at(90), "v3", 120, 6.0) == []  # a look for another plan
    assert w.conditions(view_at(90), None, None, 6.0) == []
    w.observe(StagedSeen("val-b", "v2", True, "", 2.0))  # staged since
    assert w.conditions(view_at(90), "v2", 100, 6.0) == []


def test_the_watchdog_warns_with_the_plan_it_knows() -> None:
    dog = Watchdog(["val-a", "val-b"])
    for h in range(2, 6):
        for n in ("val-a", "val-b"):
            dog.observe(NewBlock(n, h, "", 100.0 + h))
    dog.observe(StagedSeen("val-b", "v2", False, PATH, 106.0))
    assert [c.key for c in dog.evaluate(106.5)] == []  # no plan known yet
    dog.set_context(UpgradeContext("v2", 50))
    assert [c.key for c in dog.evaluate(106.6)] == ["not_staged:val-b:-"]
