#!/usr/bin/env python3
"""K fake CometBFT nodes in one asyncio process, for benchmarking ``rehearse watch``.

    python bench/fake_nodes.py K [--block-s 1.0]

Each node listens on its own 127.0.0.1 port (an ephemeral one) and serves, over
HTTP/1.1 with keep-alive, what the watcher reads:

    /status, /abci_info, /header?height, /block?height,
    /blockchain?minHeight&maxHeight   (newest first, 20 at most, as CometBFT)
    /websocket   JSON-RPC ``subscribe`` to tm.event='NewBlock', then one
                 NewBlock event per block (pings answered, close echoed)

All nodes follow one chain: a block every ``--block-s`` seconds with a header
(height, RFC 3339 time with nanoseconds, app_hash). A stopped node freezes at its
height (no events, /status frozen); started again, it jumps to the chain's tip,
so its client backfills the gap over /blockchain.

Protocol with the parent: the first stdout line is JSON ``{"ports": [...]}``;
stdin takes ``stop I``, ``start I`` (I: node index), ``skew S`` (every header time
from now on S seconds later: the nodes' clock stepped) and ``quit``; each command is
acknowledged by a stdout line ``ok <command> <unix time>``, the time at which it
took effect. Deliberately cheap: the standard library only, one frame encoded per
block and subscription id, no per-node tasks besides the connections themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import struct
import sys
import time
from urllib.parse import parse_qs, urlsplit

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CHAIN_ID = "bench-1"
GENESIS = 1_790_000_000  # unix seconds of height 0
MAX_WS_BUFFER = 256 * 1024  # a client this far behind is dropped, as CometBFT does


def block_time(height: int, block_s: float, skew: float = 0.0) -> str:
    t = GENESIS + height * block_s + skew
    secs = int(t)
    nanos = int(round((t - secs) * 1e9)) + 123_456_789 % 1_000_000_000
    nanos %= 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{nanos:09d}Z"


def app_hash(height: int) -> str:
    return hashlib.sha256(height.to_bytes(8, "big")).hexdigest().upper()


class Chain:
    def __init__(self, k: int, block_s: float) -> None:
        self.block_s = block_s
        self.height = 1
        self.heights = [1] * k  # each node's own height (frozen when stopped)
        self.stopped = [False] * k
        self.skew = 0.0  # seconds added to every header time (a clock step)
        self.subs: list[dict[asyncio.StreamWriter, int]] = [{} for _ in range(k)]
        self._frames: dict[tuple[int, int], bytes] = {}

    def header(self, h: int) -> dict[str, object]:
        return {
            "version": {"block": "11"},
            "chain_id": CHAIN_ID,
            "height": str(h),
            "time": block_time(h, self.block_s, self.skew),
            "last_block_id": {"hash": "", "parts": {"total": 0, "hash": ""}},
            "app_hash": app_hash(h - 1),
            "proposer_address": "0" * 40,
        }

    def event_frame(self, h: int, sub_id: int) -> bytes:
        key = (h, sub_id)
        frame = self._frames.get(key)
        if frame is None:
            if len(self._frames) > 64:
                self._frames.clear()
            msg = {
                "jsonrpc": "2.0",
                "id": sub_id,
                "result": {
                    "query": "tm.event='NewBlock'",
                    "data": {
                        "type": "tendermint/event/NewBlock",
                        "value": {
                            "block": {
                                "header": self.header(h),
                                "data": {"txs": []},
                                "evidence": {"evidence": []},
                                "last_commit": {"height": str(h - 1), "round": 0},
                            },
                            "block_id": {"hash": app_hash(h)[:40], "parts": {"total": 1}},
                            "result_finalize_block": {"events": [], "app_hash": ""},
                        },
                    },
                    "events": {"tm.event": ["NewBlock"]},
                },
            }
            frame = ws_frame(json.dumps(msg).encode(), 0x1)
            self._frames[key] = frame
        return frame

    async def tick(self) -> None:
        start = time.monotonic()
        n = 0
        while True:
            n += 1
            await asyncio.sleep(max(0.0, start + n * self.block_s - time.monotonic()))
            self.height += 1
            for i, stopped in enumerate(self.stopped):
                if stopped:
                    continue
                self.heights[i] = self.height
                for w, sub_id in list(self.subs[i].items()):
                    if w.transport.get_write_buffer_size() > MAX_WS_BUFFER:
                        self.subs[i].pop(w, None)
                        w.transport.abort()
                        continue
                    w.write(self.event_frame(self.height, sub_id))


def ws_frame(payload: bytes, opcode: int) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def rpc_answer(result: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": -1, "result": result}).encode()


def rpc_error(message: str, data: str) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": -1, "error": {"code": -32603, "message": message, "data": data}}
    ).encode()


class NodeServer:
    def __init__(self, chain: Chain, i: int) -> None:
        self.chain = chain
        self.i = i

    def route(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        c, i = self.chain, self.i
        tip = c.heights[i]

        def qint(name: str, default: int) -> int:
            v = query.get(name, [""])[0].strip('"')
            return int(v) if v else default

        if path == "/status":
            h = c.header(tip)
            return 200, rpc_answer(
                {
                    "node_info": {"id": f"{i:040x}", "moniker": f"n{i:03d}", "network": CHAIN_ID},
                    "sync_info": {
                        "latest_block_hash": app_hash(tip)[:40],
                        "latest_app_hash": app_hash(tip),
                        "latest_block_height": str(tip),
                        "latest_block_time": h["time"],
                        "catching_up": False,
                    },
                    "validator_info": {"address": f"{i:040X}", "voting_power": "0"},
                }
            )
        if path == "/abci_info":
            return 200, rpc_answer(
                {
                    "response": {
                        "data": "bench",
                        "version": "v1",
                        "app_version": "1",
                        "last_block_height": str(tip),
                        # The same state on every node (base64, as CometBFT sends it):
                        # the watchdog compares them (agent.core.apphash).
                        "last_block_app_hash": base64.b64encode(
                            bytes.fromhex(app_hash(tip))
                        ).decode(),
                    }
                }
            )
        if path in ("/header", "/block"):
            h = qint("height", tip)
            if h > tip or h < 1:
                return 500, rpc_error(
                    "Internal error", f"height {h} must be less than or equal to the current"
                )
            header = c.header(h)
            if path == "/header":
                return 200, rpc_answer({"header": header})
            return 200, rpc_answer(
                {"block_id": {"hash": ""}, "block": {"header": header, "data": {"txs": []}}}
            )
        if path == "/blockchain":
            lo, hi = max(1, qint("minHeight", 1)), min(tip, qint("maxHeight", tip))
            if lo > hi:
                return 500, rpc_error(
                    "Internal error", f"min height {lo} can't be greater than max height {hi}"
                )
            lo = max(lo, hi - 19)
            metas = [{"header": c.header(h), "num_txs": "0"} for h in range(hi, lo - 1, -1)]
            return 200, rpc_answer({"last_height": str(tip), "block_metas": metas})
        return 404, rpc_error("Method not found", path)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)
                u = urlsplit(target)
                if u.path == "/websocket" and "sec-websocket-key" in headers:
                    await self.websocket(reader, writer, headers["sec-websocket-key"])
                    return
                status, body = self.route(u.path, parse_qs(u.query))
                reason = "OK" if status == 200 else "Error"
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            writer.close()

    async def websocket(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str
    ) -> None:
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        subs = self.chain.subs[self.i]
        try:
            while True:
                b0, b1 = await reader.readexactly(2)
                opcode, n = b0 & 0x0F, b1 & 0x7F
                if n == 126:
                    (n,) = struct.unpack("!H", await reader.readexactly(2))
                elif n == 127:
                    (n,) = struct.unpack("!Q", await reader.readexactly(8))
                mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
                data = bytes(b ^ mask[j % 4] for j, b in enumerate(await reader.readexactly(n)))
                if opcode == 0x8:  # close: echo it
                    writer.write(ws_frame(data[:2], 0x8))
                    await writer.drain()
                    return
                if opcode == 0x9:  # ping
                    writer.write(ws_frame(data, 0xA))
                    continue
                if opcode != 0x1:
                    continue
                msg = json.loads(data)
                if msg.get("method") == "subscribe" and not self.chain.stopped[self.i]:
                    reply = {"jsonrpc": "2.0", "id": msg["id"], "result": {}}
                    writer.write(ws_frame(json.dumps(reply).encode(), 0x1))
                    subs[writer] = int(msg["id"])
        finally:
            subs.pop(writer, None)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("k", type=int)
    ap.add_argument("--block-s", type=float, default=1.0)
    args = ap.parse_args()
    chain = Chain(args.k, args.block_s)
    servers = []
    for i in range(args.k):
        srv = await asyncio.start_server(NodeServer(chain, i).handle, "127.0.0.1", 0, backlog=64)
        servers.append(srv)
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print(json.dumps({"ports": ports}), flush=True)
    tick = asyncio.create_task(chain.tick())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if not line or line == "quit":
            break
        cmd, _, arg = line.partition(" ")
        if cmd == "stop":
            chain.stopped[int(arg)] = True
        elif cmd == "start":
            chain.stopped[int(arg)] = False
        elif cmd == "skew":
            chain.skew = float(arg)
            chain._frames.clear()  # frames already encoded carry the old times
        print(f"ok {line} {time.time():.3f}", flush=True)
    tick.cancel()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
