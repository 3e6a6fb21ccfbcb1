"""HttpClients: one pool per origin, one TLS context for all (the watcher's per-node cost)."""

from __future__ import annotations

import anyio

from agent.adapters.httpjson import HttpClients


def test_one_client_per_origin_sharing_one_tls_context() -> None:
    async def main() -> None:
        async with HttpClients() as http:
            a = http.for_url("http://127.0.0.1:26657")
            assert http.for_url("http://127.0.0.1:26657/") is a
            b = http.for_url("http://127.0.0.1:26658")
            c = http.for_url("https://rpc.example.org")
            assert len({id(a), id(b), id(c)}) == 3
            assert http.default not in (a, b, c)
            clients = [a, b, c, http.default]
        assert all(x.is_closed for x in clients)

    anyio.run(main)
