from __future__ import annotations

import pytest

from agent.adapters.failover import Failover
from agent.errors import ConnectError, ProtocolError

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(5)]


class Node:
    def __init__(self, name: str, up: bool = True) -> None:
        self.name, self.up, self.calls = name, up, 0

    async def ask(self) -> str:
        self.calls += 1
        if not self.up:
            raise ConnectError(f"{self.name}: connection refused")
        return self.name


async def test_a_down_endpoint_fails_over_and_the_good_one_is_kept() -> None:
    carol, sentry = Node("carol", up=False), Node("sentry")
    pool = Failover([("carol", carol), ("sentry", sentry)])
    assert await pool.call("ask", lambda n: n.ask()) == "sentry"
    assert pool.current == "sentry"
    assert await pool.call("ask", lambda n: n.ask()) == "sentry"
    assert carol.calls == 1  # not asked again while the other answers
    sentry.up, carol.up = False, True
    assert await pool.call("ask", lambda n: n.ask()) == "carol"


async def test_every_endpoint_down_raises_the_last_transient_error() -> None:
    pool = Failover([("a", Node("a", up=False)), ("b", Node("b", up=False))])
    with pytest.raises(ConnectError, match="b: connection refused"):
        await pool.call("ask", lambda n: n.ask())


async def test_a_definite_answer_is_not_retried_elsewhere() -> None:
    other = Node("b")

    async def bad(_n: Node) -> str:
        raise ProtocolError("proposal 9 not found")

    pool = Failover([("a", Node("a")), ("b", other)])
    with pytest.raises(ProtocolError):
        await pool.call("ask", bad)
    assert other.calls == 0
