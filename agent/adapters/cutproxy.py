"""A proxy the agent controls, to cut its own event streams for real.

Scenario ``stream-cuts`` routes every websocket (TCP) and the Docker events
stream (a unix socket) through one of these; ``cut()`` closes every live
connection from the proxy's side, so the clients see a genuine connection
drop, reconnect, resubscribe and backfill, exactly as after a network blip.
Loopback only: it listens on 127.0.0.1 or a socket file in the state dir.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import anyio
import structlog
from anyio.abc import ByteStream, Listener, SocketAttribute, TaskGroup, TaskStatus

__all__ = ["CutProxy"]

log = structlog.get_logger("agent.adapters.cutproxy")


class CutProxy:
    """Forward connections from a local listener to ``target``.

    ``target`` is ``("tcp", host, port)`` or ``("unix", path, 0)``; the proxy
    listens on 127.0.0.1 (``listen_unix`` None) or on the socket file given.
    """

    def __init__(
        self, name: str, target: tuple[str, str, int], listen_unix: Path | None = None
    ) -> None:
        self.name = name
        self.target = target
        self.listen_unix = listen_unix
        self.port = 0
        self._live: set[anyio.CancelScope] = set()
        self._tg: TaskGroup | None = None

    @property
    def address(self) -> str:
        if self.listen_unix is not None:
            return f"unix://{self.listen_unix}"
        return f"127.0.0.1:{self.port}"

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        listener: Listener[Any]
        if self.listen_unix is not None:
            with contextlib.suppress(FileNotFoundError):
                await anyio.Path(self.listen_unix).unlink()
            listener = await anyio.create_unix_listener(self.listen_unix)
        else:
            tcp = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
            self.port = int(tcp.extra(SocketAttribute.local_port))
            listener = tcp
        async with listener, anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            await listener.serve(self._handle, task_group=tg)

    async def _connect(self) -> ByteStream:
        kind, host, port = self.target
        if kind == "unix":
            return await anyio.connect_unix(host)
        return await anyio.connect_tcp(host, port)

    async def _handle(self, client: ByteStream) -> None:
        scope = anyio.CancelScope()
        self._live.add(scope)
        try:
            with scope:
                async with client, await self._connect() as upstream:
                    async with anyio.create_task_group() as tg:

                        async def pump(src: ByteStream, dst: ByteStream) -> None:
                            with contextlib.suppress(
                                anyio.EndOfStream, anyio.BrokenResourceError, OSError
                            ):
                                while True:
                                    await dst.send(await src.receive())
                            tg.cancel_scope.cancel()  # one side ended: end both

                        tg.start_soon(pump, client, upstream)
                        tg.start_soon(pump, upstream, client)
        except OSError as exc:
            log.debug("proxy_connect_failed", proxy=self.name, error=str(exc))
        finally:
            self._live.discard(scope)

    def cut(self) -> int:
        """Close every live connection now; return how many there were."""
        n = len(self._live)
        for scope in list(self._live):
            scope.cancel()
        log.warning("streams_cut", proxy=self.name, connections=n)
        return n
