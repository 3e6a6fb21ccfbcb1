"""NewBlockSource against a scripted local websockets server that speaks CometBFT."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from websockets.asyncio.server import ServerConnection, serve

from agent.adapters.backoff import Backoff
from agent.adapters.clock import FakeClock
from agent.adapters.rpc import AbciInfo, BlockHeader, BroadcastResult, NodeStatus
from agent.adapters.ws import NewBlockSource
from agent.core.observations import NewBlock, Observation, StreamStatus

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(15)]


def block_time(height: int) -> str:
    return f"2026-11-29T15:42:{height:02d}.267080345Z"


def new_block_event(sub_id: int, height: int) -> str:
    """A NewBlock event as CometBFT v0.38 sends it (trimmed of hashes, same nesting)."""
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": sub_id,
            "result": {
                "query": "tm.event='NewBlock'",
                "data": {
                    "type": "tendermint/event/NewBlock",
                    "value": {
                        "block": {
                            "header": {
                                "version": {"block": "11"},
                                "chain_id": "checkers-solo",
                                "height": str(height),
                                "time": block_time(height),
                                "app_hash": "63E6C98A",
                            },
                            "data": {"txs": []},
                            "evidence": {"evidence": []},
                            "last_commit": {"height": str(height - 1), "round": 0},
                        },
                        "block_id": {"hash": "F5DF", "parts": {"total": 1, "hash": "9F00"}},
                        "result_finalize_block": {"events": [], "app_hash": "v1ZR"},
                    },
                },
                "events": {"tm.event": ["NewBlock"]},
            },
        }
    )


class FakeRPC:
    """A CometRPC: ``latest`` is what /status says, ``top`` the highest header it has."""

    def __init__(self, latest: int = 0, top: int | None = None) -> None:
        self.latest = latest
        self.top = latest if top is None else top
        self.header_calls: list[tuple[int, int]] = []

    async def status(self) -> NodeStatus:
        return NodeStatus(self.latest, block_time(self.latest), "AA", False, "id", "solo", "c")

    async def abci_info(self) -> AbciInfo:
        return AbciInfo(0, "v1", self.latest)

    async def block_header(self, height: int | None = None) -> BlockHeader:
        h = self.latest if height is None else height
        return BlockHeader(h, block_time(h), "AA")

    async def headers(self, min_height: int, max_height: int) -> list[BlockHeader]:
        self.header_calls.append((min_height, max_height))
        top = min(max_height, self.top)
        return [BlockHeader(h, block_time(h), "AA") for h in range(min_height, top + 1)]

    async def abci_query(self, path: str, data: bytes, height: int | None = None) -> bytes | None:
        return None

    # The rest of CometRPC: a block source never calls these.
    async def tx(self, tx_hash: str) -> dict[str, Any] | None:
        raise AssertionError("a block source looked up a transaction")

    async def get(self, method: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        raise AssertionError(f"a block source made a declared read: {method}")

    async def broadcast_tx_sync(self, tx_bytes: bytes) -> BroadcastResult:
        raise AssertionError("a block source broadcast a transaction")


Script = Callable[[ServerConnection, int, int], Awaitable[None]]


@asynccontextmanager
async def comet_server(script: Script) -> AsyncIterator[str]:
    """Serve /websocket: answer the subscribe, then run ``script(ws, sub_id, n)``."""
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        request = json.loads(await ws.recv())
        assert request["method"] == "subscribe"
        assert request["params"] == {"query": "tm.event='NewBlock'"}
        assert isinstance(request["id"], int)  # CometBFT wants integer ids
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": {}}))
        await script(ws, request["id"], connections)

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/websocket"


async def collect(
    receive: MemoryObjectReceiveStream[Observation], until: Callable[[list[Observation]], bool]
) -> list[Observation]:
    seen: list[Observation] = []
    async for item in receive:
        seen.append(item)
        if until(seen):
            return seen
    return seen


Streams = tuple[MemoryObjectSendStream[Observation], MemoryObjectReceiveStream[Observation]]


@pytest.fixture
def streams() -> Iterator[Streams]:
    send, receive = anyio.create_memory_object_stream[Observation](16)
    with send, receive:
        yield send, receive


def heights(seen: list[Observation]) -> list[tuple[int, bool]]:
    return [(o.height, o.backfilled) for o in seen if isinstance(o, NewBlock)]


def statuses(seen: list[Observation]) -> list[bool]:
    return [o.up for o in seen if isinstance(o, StreamStatus)]


def reached(height: int) -> Callable[[list[Observation]], bool]:
    return lambda seen: any(isinstance(o, NewBlock) and o.height >= height for o in seen)


async def test_drop_mid_stream_reconnects_backfills_and_never_duplicates(streams: Streams) -> None:
    rpc = FakeRPC()

    async def script(ws: ServerConnection, sub_id: int, n: int) -> None:
        if n == 1:
            for h in (1, 2, 3):
                await ws.send(new_block_event(sub_id, h))
            # Blocks 4 and 5 get committed while we are away; drop without a close frame.
            rpc.latest, rpc.top = 5, 8
            ws.transport.abort()
            return
        # Reconnected: the node is at 7 by now. 5 comes again (a replay), 6 was dropped
        # for a "slow client", so the source must fill 4..5 from the tip and 6 from the gap.
        for h in (5, 7, 8):
            await ws.send(new_block_event(sub_id, h))
        await ws.wait_closed()

    send, receive = streams
    clock = FakeClock()
    async with comet_server(script) as url, anyio.create_task_group() as tg:
        source = NewBlockSource(
            "node0", url, rpc, send, clock=clock, backoff=Backoff(jitter="none"), read_deadline=5
        )
        await tg.start(source.run)
        seen = await collect(receive, reached(8))
        tg.cancel_scope.cancel()

    assert heights(seen) == [
        (1, False), (2, False), (3, False),
        (4, True), (5, True), (6, True),
        (7, False), (8, False),
    ]  # fmt: skip
    assert statuses(seen) == [True, False, True]
    # Order: up, live blocks, down, up, backfilled, live.
    kinds = [
        "up"
        if isinstance(o, StreamStatus) and o.up
        else "down"
        if isinstance(o, StreamStatus)
        else "backfill"
        if isinstance(o, NewBlock) and o.backfilled
        else "live"
        for o in seen
    ]
    assert kinds == ["up", "live", "live", "live", "down", "up",
                     "backfill", "backfill", "backfill", "live", "live"]  # fmt: skip
    down = next(o for o in seen if isinstance(o, StreamStatus) and not o.up)
    assert down.source == "ws:node0"
    assert "closed" in down.reason
    assert rpc.header_calls == [(4, 5), (6, 6)]
    assert clock.sleeps == [0.2]  # one backoff delay, on the fake clock
    assert all(o.at == clock.wall() for o in seen if isinstance(o, NewBlock) and o.height > 3)


async def test_silent_server_hits_the_read_deadline_and_reconnects(streams: Streams) -> None:
    rpc = FakeRPC()

    async def script(ws: ServerConnection, sub_id: int, n: int) -> None:
        if n == 1:
            await ws.send(new_block_event(sub_id, 1))
            await ws.wait_closed()  # connection open, nothing said (a SIGSTOPped node)
            return
        for h in (2, 3):
            await ws.send(new_block_event(sub_id, h))
        await ws.wait_closed()

    send, receive = streams
    async with comet_server(script) as url, anyio.create_task_group() as tg:
        rpc.latest = rpc.top = 1
        source = NewBlockSource(
            "node1",
            url,
            rpc,
            send,
            clock=FakeClock(),
            backoff=Backoff(jitter="none"),
            read_deadline=0.3,
            ping_interval=None,  # only the read deadline may notice the silence
        )
        with anyio.fail_after(5):
            await tg.start(source.run)
            seen = await collect(receive, reached(3))
        tg.cancel_scope.cancel()

    assert heights(seen) == [(1, False), (2, False), (3, False)]
    assert statuses(seen) == [True, False, True]
    down = next(o for o in seen if isinstance(o, StreamStatus) and not o.up)
    assert "no message within 0.3s" in down.reason
    assert source.connects == 2


async def test_node_down_at_startup_does_not_block_start_then_connects(streams: Streams) -> None:
    # Find a port nobody listens on, and later serve on it.
    async def script(ws: ServerConnection, sub_id: int, n: int) -> None:
        await ws.send(new_block_event(sub_id, 10))
        await ws.wait_closed()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()

    class SlowFakeClock(FakeClock):
        async def sleep(self, seconds: float) -> None:
            await super().sleep(seconds)
            await anyio.sleep(0.05)  # let the test start the server between retries

    send, receive = streams
    source = NewBlockSource(
        "node2", f"ws://127.0.0.1:{port}/websocket", FakeRPC(), send, clock=SlowFakeClock()
    )
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(2):
            await tg.start(source.run)  # returns although nothing listens
        first = await receive.receive()
        assert isinstance(first, StreamStatus) and first.up is False
        assert "Connect" in first.reason or "refused" in first.reason.lower()

        async def handler(ws: ServerConnection) -> None:
            request = json.loads(await ws.recv())
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": {}}))
            await script(ws, request["id"], 1)

        async with serve(handler, "127.0.0.1", port, compression=None):
            with anyio.fail_after(5):
                seen = await collect(receive, reached(10))
        tg.cancel_scope.cancel()
    assert statuses(seen) == [True]
    assert heights(seen) == [(10, False)]


async def test_subscription_cancelled_by_server_is_a_drop(streams: Streams) -> None:
    async def script(ws: ServerConnection, sub_id: int, n: int) -> None:
        if n == 1:
            await ws.send(new_block_event(sub_id, 1))
            # What CometBFT sends to a slow client with experimental_close_on_slow_client.
            error = {
                "code": -32000,
                "message": "Server error",
                "data": "subscription was cancelled (reason: client is not pulling messages "
                "fast enough)",
            }
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": sub_id, "error": error}))
            await ws.wait_closed()
            return
        await ws.send(new_block_event(sub_id, 2))
        await ws.wait_closed()

    rpc = FakeRPC(latest=1)
    send, receive = streams
    async with comet_server(script) as url, anyio.create_task_group() as tg:
        source = NewBlockSource("n", url, rpc, send, clock=FakeClock(), read_deadline=5)
        with anyio.fail_after(5):
            await tg.start(source.run)
            seen = await collect(receive, reached(2))
        tg.cancel_scope.cancel()
    assert heights(seen) == [(1, False), (2, False)]
    down = next(o for o in seen if isinstance(o, StreamStatus) and not o.up)
    assert "subscription was cancelled" in down.reason


async def test_bad_url_is_rejected_up_front(streams: Streams) -> None:
    send, _ = streams
    with pytest.raises(ValueError):
        NewBlockSource("n", "http//nope", FakeRPC(), send)
