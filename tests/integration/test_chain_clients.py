"""HttpCometRPC, RestClient and NewBlockSource against one real checkersd node."""

from __future__ import annotations

import anyio
import pytest

from agent.adapters.backoff import Backoff
from agent.adapters.clock import SystemClock
from agent.adapters.rpc import HttpCometRPC, QueryFailed, RestClient
from agent.adapters.ws import NewBlockSource
from agent.core.observations import NewBlock, Observation, StreamStatus

from .solo_chain import CHAIN_ID, DENOM, SoloChain

pytestmark = [pytest.mark.anyio, pytest.mark.chain, pytest.mark.timeout(90)]


async def test_status_abci_info_and_headers(solo_chain: SoloChain) -> None:
    async with HttpCometRPC(solo_chain.rpc_url, timeout=5) as rpc:
        status = await rpc.status()
        assert status.network == CHAIN_ID
        assert status.moniker == "solo"
        assert status.latest_height >= 2
        assert not status.catching_up
        assert len(status.node_id) == 40

        info = await rpc.abci_info()
        assert info.version == "v1"
        assert info.app_version == 0  # omitted by the node, defaulted by us
        assert info.last_block_height >= status.latest_height

        # More than one /blockchain page (20), and a range running past the tip.
        with anyio.fail_after(30):
            while True:
                if (await rpc.status()).latest_height >= 25:
                    break
                await anyio.sleep(0.3)
        headers = await rpc.headers(1, 1000)
        heights = [h.height for h in headers]
        assert heights == list(range(1, len(heights) + 1))
        assert len(heights) >= 25
        assert headers[4] == await rpc.block_header(5)
        assert all(h.time.endswith("Z") for h in headers)


async def test_abci_query_raw_store(solo_chain: SoloChain) -> None:
    async with HttpCometRPC(solo_chain.rpc_url, timeout=5) as rpc:
        value = await rpc.abci_query("/store/checkers/subspace", b"PlayerInfo/value/")
        assert value is None or isinstance(value, bytes)
        with pytest.raises(QueryFailed) as info:
            await rpc.abci_query("/store/nosuchstore/key", b"\x01")
        assert "no such store" in info.value.log


async def test_rest_client_v053_shapes(solo_chain: SoloChain) -> None:
    address = solo_chain.validator_address
    async with RestClient(solo_chain.api_url, timeout=5) as rest:
        with anyio.fail_after(20):  # the API server starts a little after the first blocks
            while True:
                try:
                    params = await rest.gov_params()
                    break
                except Exception:  # noqa: BLE001
                    await anyio.sleep(0.3)
        assert params.voting_period == 172800.0
        assert params.expedited_voting_period == 86400.0
        assert params.min_deposit == {DENOM: 10_000_000}
        assert await rest.proposals() == []
        assert await rest.proposal(1) is None
        assert await rest.vote(1, address) is None
        assert await rest.current_plan() is None
        assert await rest.applied_plan("v1tov2") == 0
        assert await rest.balance(address, DENOM) > 0


async def collect_until(
    receive: anyio.abc.ObjectReceiveStream[Observation], height: int, seen: list[Observation]
) -> None:
    async for item in receive:
        seen.append(item)
        if isinstance(item, NewBlock) and item.height >= height:
            return


async def test_new_blocks_are_consecutive_across_a_frozen_node(solo_chain: SoloChain) -> None:
    send, receive = anyio.create_memory_object_stream[Observation](64)
    seen: list[Observation] = []
    async with HttpCometRPC(solo_chain.rpc_url, timeout=2) as rpc:
        start = (await rpc.status()).latest_height
        source = NewBlockSource(
            "solo",
            solo_chain.ws_url,
            rpc,
            send,
            clock=SystemClock(),
            # Stay away long enough after the node thaws that blocks are missed.
            backoff=Backoff(initial=2.0, cap=2.0, jitter="none"),
            read_deadline=1.0,
            connect_deadline=1.0,
        )
        with send, receive:
            async with anyio.create_task_group() as tg:
                await tg.start(source.run)
                with anyio.fail_after(20):
                    await collect_until(receive, start + 3, seen)
                # Freeze the node longer than the read deadline: the socket stays open but
                # says nothing, exactly like a node wedged at the upgrade height.
                solo_chain.pause()
                try:
                    await anyio.sleep(2.0)
                finally:
                    solo_chain.resume()
                frozen_at = source.last_seen
                assert frozen_at is not None
                with anyio.fail_after(30):
                    await collect_until(receive, frozen_at + 8, seen)
                tg.cancel_scope.cancel()

    blocks = [o for o in seen if isinstance(o, NewBlock)]
    heights = [b.height for b in blocks]
    assert heights == list(range(heights[0], heights[-1] + 1)), "gap or duplicate"
    assert any(b.backfilled for b in blocks), "nothing was backfilled after the freeze"
    assert all(not b.backfilled for b in blocks if b.height <= frozen_at)
    downs = [o for o in seen if isinstance(o, StreamStatus) and not o.up]
    assert downs and "no message within 1.0s" in downs[0].reason
    assert [o.up for o in seen if isinstance(o, StreamStatus)][:3] == [True, False, True]
    assert source.connects >= 2
