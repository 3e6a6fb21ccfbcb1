"""New blocks from one node's CometBFT websocket, with reconnect and backfill.

The stream ends: the node restarts (it does at the upgrade height), the connection
drops, CometBFT drops events for a slow client, or the node goes silent. Each time the
source says so (``StreamStatus(up=False)``), reconnects with backoff, resubscribes, says
``up=True`` and fetches over RPC the heights it missed (``backfilled=True``). It keeps
the last height it emitted, so every height reaches the consumer once, in order.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import structlog
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectSendStream
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidURI, WebSocketException
from websockets.uri import parse_uri

from agent.adapters.backoff import Backoff
from agent.adapters.clock import Clock, SystemClock
from agent.adapters.reconnect import Link, reconnect_forever
from agent.adapters.rpc import CometRPC
from agent.adapters.rpc_answers import is_absent_flag
from agent.core.observations import NewBlock, Observation, StreamStatus
from agent.errors import AgentError, ProtocolError, StreamClosed

__all__ = ["NewBlockSource", "NEW_BLOCK_QUERY"]

NEW_BLOCK_QUERY = "tm.event='NewBlock'"
NEW_BLOCK_TYPE = "tendermint/event/NewBlock"

# Backfill in slices so a long outage streams out progressively (and the bounded
# send stream applies backpressure) instead of materialising thousands of headers.
BACKFILL_SLICE = 100
# A close handshake with a wedged node must not hold up reconnecting or shutdown.
CLOSE_DEADLINE = 2.0

log = structlog.get_logger(__name__)


class NewBlockSource:
    """Sends ``NewBlock`` and ``StreamStatus(source="ws:<node>")`` for one node.

    ``read_deadline``: longest wait for any message. CometBFT pings every 27 s but
    pings are not messages; a halted chain therefore also reconnects every
    ``read_deadline`` seconds, which costs one resubscribe and proves the node alive.
    """

    def __init__(
        self,
        node: str,
        ws_url: str,
        rpc: CometRPC,
        send: MemoryObjectSendStream[Observation],
        *,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        read_deadline: float = 35.0,
        connect_deadline: float = 10.0,
        ping_interval: float | None = 20.0,
        max_message_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        try:
            parse_uri(ws_url)
        except InvalidURI as exc:
            raise ValueError(f"bad websocket url {ws_url!r}: {exc}") from exc
        self.node = node
        self.ws_url = ws_url
        self.source = f"ws:{node}"
        self._rpc = rpc
        self._send = send
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._backoff = backoff if backoff is not None else Backoff()
        self.read_deadline = read_deadline
        self.connect_deadline = connect_deadline
        self.ping_interval = ping_interval
        self.max_message_bytes = max_message_bytes
        self._next_id = 1
        self._up: bool | None = None
        self.last_seen: int | None = None  # the highest height emitted so far
        self.connects = 0  # successful subscriptions, for tests and metrics

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled (or until the consumer closes its receive stream)."""
        await reconnect_forever(
            self._attempt,
            backoff=self._backoff,
            sleep=self._clock.sleep,
            status=self._set_up,
            translate=self._why,
            name="ws",
            log_fields={"node": self.node},
            task_status=task_status,
        )

    async def _attempt(self, link: Link) -> None:
        """One connection's life; ends by raising (see ``_why``)."""
        with anyio.fail_after(self.connect_deadline):
            ws = await connect(
                self.ws_url,
                open_timeout=self.connect_deadline,
                close_timeout=CLOSE_DEADLINE,
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_interval,
                max_size=self.max_message_bytes,
                # One message queued (a block of up to max_size, the default fits
                # CometBFT's largest block, base64'd) and one being read: at most
                # 2 x max_size per node; beyond that TCP pushes back on the node.
                max_queue=1,
                compression=None,
                proxy=None,
            )
        try:
            sub_id = await self._subscribe(ws)
            self.connects += 1
            await link.up("subscribed")
            await self._backfill_to_tip()
            await self._read(ws, sub_id, link)
        finally:
            await _close(ws)

    def _why(self, exc: Exception) -> str | None:
        """Why a connection ended, for the exceptions that mean "reconnect"."""
        if isinstance(exc, ConnectionClosed):
            return f"connection closed: {exc}"
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.connect_deadline}s"
        if isinstance(exc, OSError | WebSocketException | AgentError):
            # ProtocolError included: a malformed frame drops the connection once;
            # the backfill after reconnecting fetches whatever it carried.
            return f"{type(exc).__name__}: {exc}"
        return None

    async def _subscribe(self, ws: ClientConnection) -> int:
        sub_id = self._next_id
        self._next_id += 1
        request = {
            "jsonrpc": "2.0",
            "method": "subscribe",
            "id": sub_id,
            "params": {"query": NEW_BLOCK_QUERY},
        }
        with anyio.fail_after(self.connect_deadline):
            await ws.send(json.dumps(request))
            while True:
                message = _decode(await ws.recv())
                if message.get("id") != sub_id:
                    continue
                if "error" in message:
                    raise StreamClosed(f"subscribe refused: {_clip(message['error'])}")
                return sub_id

    async def _read(self, ws: ClientConnection, sub_id: int, link: Link) -> None:
        while True:
            with anyio.move_on_after(self.read_deadline) as scope:
                raw = await ws.recv()
            if scope.cancelled_caught:
                raise StreamClosed(f"no message within {self.read_deadline}s")
            message = _decode(raw)
            if message.get("id") not in (sub_id, None):
                continue
            if "error" in message:
                # e.g. the subscription was cancelled because we were too slow.
                raise StreamClosed(f"server error: {_clip(message['error'])}")
            block = _new_block(message)
            if block is None:
                continue
            height, block_time, signed = block
            if self.last_seen is not None and height <= self.last_seen:
                continue  # already emitted (live after a backfill, or a replay)
            if self.last_seen is not None and height > self.last_seen + 1:
                # Missed while reconnecting, or dropped by CometBFT for a slow client.
                await self._backfill(self.last_seen + 1, height - 1)
            await self._emit(height, block_time, backfilled=False, signed=signed)
            # Healthy only once a live block got through: a connection that subscribes
            # but then fails (e.g. a backfill RPC keeps failing) keeps backing off.
            link.alive()

    async def _backfill_to_tip(self) -> None:
        if self.last_seen is None:
            return  # first connection: start from what is live
        status = await self._rpc.status()
        if status.latest_height > self.last_seen:
            await self._backfill(self.last_seen + 1, status.latest_height)

    async def _backfill(self, low: int, high: int) -> None:
        log.debug("ws_backfill", node=self.node, low=low, high=high)
        for start in range(low, high + 1, BACKFILL_SLICE):
            end = min(high, start + BACKFILL_SLICE - 1)
            for header in await self._rpc.headers(start, end):
                if self.last_seen is not None and header.height <= self.last_seen:
                    continue
                if self.last_seen is not None and header.height != self.last_seen + 1:
                    break
                await self._emit(header.height, header.time, backfilled=True)
            if self.last_seen is None or self.last_seen < end:
                # Never skip silently: drop the connection and retry the backfill.
                raise StreamClosed(
                    f"backfill {start}..{end}: RPC did not return height "
                    f"{(self.last_seen or start - 1) + 1}"
                )

    async def _emit(
        self, height: int, block_time: str, *, backfilled: bool,
        signed: tuple[str, ...] | None = None,
    ) -> None:  # fmt: skip
        await self._send.send(
            NewBlock(self.node, height, block_time, at=self._clock.wall(),
                     backfilled=backfilled, signed=signed)
        )  # fmt: skip
        self.last_seen = height

    async def _set_up(self, up: bool, reason: str) -> None:
        if self._up == up:
            return  # report changes, not every failed retry
        self._up = up
        log.debug("ws_stream_up" if up else "ws_stream_down", node=self.node, reason=reason)
        await self._send.send(StreamStatus(self.source, up, reason, at=self._clock.wall()))


async def _close(ws: ClientConnection) -> None:
    # Shielded and time-limited: when the source is cancelled, `async with connect()`
    # would have its close handshake cancelled too and leak the socket.
    with anyio.CancelScope(shield=True):
        with anyio.move_on_after(CLOSE_DEADLINE):
            await ws.close()
        ws.transport.abort()  # a no-op once closed; frees a peer that never answered


def _decode(raw: str | bytes) -> dict[str, Any]:
    """A JSON-RPC message; ``ProtocolError`` for anything else (never another error)."""
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise ProtocolError(f"websocket: not JSON: {str(raw)[:200]!r}") from exc
    if not isinstance(message, dict):
        raise ProtocolError(f"websocket: not a JSON-RPC message: {str(raw)[:200]!r}")
    return message


def _signed(block: dict[str, Any]) -> tuple[str, ...] | None:
    """The addresses whose signature is in the block's ``last_commit`` (any flag but
    absent: a nil precommit was signed); None when it carries none to read (the
    first block's commit is empty, and a shape we do not know is no evidence)."""
    commit = block.get("last_commit")
    sigs = commit.get("signatures") if isinstance(commit, dict) else None
    if not isinstance(sigs, list) or not sigs:
        return None
    out = []
    for sig in sigs:
        if not isinstance(sig, dict):
            return None
        address = sig.get("validator_address")
        if isinstance(address, str) and address and not is_absent_flag(sig.get("block_id_flag")):
            out.append(address.upper())
    return tuple(out)


def _new_block(message: dict[str, Any]) -> tuple[int, str, tuple[str, ...] | None] | None:
    """(height, time, signers of the block before) of a NewBlock event; None for
    anything else (e.g. the reply)."""
    result = message.get("result")
    if not isinstance(result, dict):
        return None
    data = result.get("data")
    if not isinstance(data, dict) or data.get("type") != NEW_BLOCK_TYPE:
        return None
    try:
        header = data["value"]["block"]["header"]
        height, block_time = header["height"], header["time"]
    except (KeyError, TypeError) as exc:
        raise ProtocolError(f"NewBlock event without block.header: {_clip(exc)}") from exc
    if not isinstance(block_time, str):
        raise ProtocolError(f"NewBlock time is {_clip(block_time)}")
    if isinstance(height, bool):
        raise ProtocolError(f"NewBlock height is {height!r}")
    try:
        return int(height), block_time, _signed(data["value"]["block"])
    except (TypeError, ValueError, OverflowError) as exc:  # Overflow: Infinity
        raise ProtocolError(f"NewBlock height is {_clip(height)}") from exc


def _clip(value: object) -> str:
    """A bounded repr for error messages (a frame may be megabytes)."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # nested too deeply; int too long to print
        text = f"<{type(value).__name__}>"
    return text[:500]
