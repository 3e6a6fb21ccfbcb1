"""GET (or POST) a JSON document over HTTP, with httpx errors translated into ``agent.errors``.

Shared by the CometBFT RPC client and the Cosmos REST client; the callers decide what
an error *status* means (CometBFT answers JSON-RPC errors with HTTP 500, the gRPC
gateway maps gRPC codes onto 4xx/5xx), so this module hands back status and body.
Model: httpcore ``_backends/anyio.py`` ``map_exceptions``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import anyio
import httpx

from agent.errors import ConnectError, DeadlineExceeded, ProtocolError

__all__ = [
    "JsonHttpClient",
    "JsonResponse",
    "HttpClients",
    "get_json",
    "post_json",
    "translate_httpx_errors",
    "as_int",
    "as_dict",
    "as_str",
    "clip",
]

# Bodies larger than this are not chain answers we understand; refuse rather than buffer.
MAX_BODY_BYTES = 32 * 1024 * 1024


class _Closing:
    """``async with`` for a holder of connections: leaving the block calls ``aclose``."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class HttpClients(_Closing):
    """The process's httpx clients: one per origin (scheme, host, port), one TLS context.

    An ``httpx.AsyncClient`` builds its own TLS context (the CA bundle parsed again):
    about 1 MB and 50 ms of CPU each, so one client per node made the watcher grow
    by ~1 MB a node. Here every client shares one context (~30 kB a client).

    Not one client for everything: httpcore scans its whole pool on each request
    and each release, so one pool holding a keep-alive connection to each of 200
    nodes costs O(nodes) per request; that scan took half a core at 200 nodes.
    One small pool per origin keeps each request O(1) and its connection alive
    across the watcher's polls (``keepalive_s`` exceeds the polling period).
    """

    def __init__(self, *, keepalive_s: float = 15.0, per_origin: int = 100) -> None:
        self.ssl_context = httpx.create_ssl_context()
        self.keepalive_s = keepalive_s
        self.per_origin = per_origin
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._default: httpx.AsyncClient | None = None

    def for_url(self, url: str) -> httpx.AsyncClient:
        """The client of ``url``'s origin (created on first use)."""
        u = httpx.URL(url)
        origin = f"{u.scheme}://{u.netloc.decode('ascii')}"
        client = self._clients.get(origin)
        if client is None:
            client = self._clients[origin] = httpx.AsyncClient(
                verify=self.ssl_context,
                limits=httpx.Limits(
                    max_connections=self.per_origin,
                    max_keepalive_connections=2,
                    keepalive_expiry=self.keepalive_s,
                ),
            )
        return client

    @property
    def default(self) -> httpx.AsyncClient:
        """A general-purpose client (alert sinks: few requests, many origins)."""
        if self._default is None:
            self._default = httpx.AsyncClient(verify=self.ssl_context)
        return self._default

    async def aclose(self) -> None:
        clients = [*self._clients.values(), *([self._default] if self._default else [])]
        self._clients.clear()
        self._default = None
        for c in clients:
            await c.aclose()


class JsonHttpClient(_Closing):
    """A base URL, a per-request deadline and an httpx client that may be shared.

    Pass ``client`` to share a connection pool (it is then yours to close);
    otherwise one is created and closed by ``aclose()`` / ``async with``.
    """

    def __init__(
        self, base_url: str, *, timeout: float = 5.0, client: httpx.AsyncClient | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


@dataclass(frozen=True, slots=True)
class JsonResponse:
    status_code: int
    body: Any  # parsed JSON, or None when the body was not JSON
    text: str  # the start of the raw body, for error messages


@contextmanager
def translate_httpx_errors(url: str, method: str = "GET") -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise DeadlineExceeded(f"{method} {url}: {type(exc).__name__}") from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        # Refused, reset, or cut mid-response: the node is (re)starting or gone.
        raise ConnectError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
    except httpx.HTTPError as exc:
        # Bad URL, unsupported scheme, decoding: retrying gives the same answer.
        raise ProtocolError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    deadline: float,
) -> JsonResponse:
    """One GET under a hard deadline (connect, send and the whole body)."""
    return await _request_json(client, "GET", url, params=params, deadline=deadline)


async def post_json(
    client: httpx.AsyncClient, url: str, *, body: Any, deadline: float
) -> JsonResponse:
    """One POST of a JSON ``body`` under a hard deadline (connect, send and the whole answer).

    A POST that runs past its deadline may still have reached the peer: callers of a
    non-idempotent POST must be able to tell afterwards (a transaction's hash).
    """
    return await _request_json(client, "POST", url, json_body=body, deadline=deadline)


async def _request_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    json_body: Any = None,
    deadline: float,
) -> JsonResponse:
    try:
        with anyio.fail_after(deadline), translate_httpx_errors(url, method):
            async with client.stream(method, url, params=params, json=json_body) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise ProtocolError(
                            f"{method} {url}: body larger than {MAX_BODY_BYTES} bytes"
                        )
                    chunks.append(chunk)
    except TimeoutError as exc:
        raise DeadlineExceeded(f"{method} {url}: no complete answer within {deadline}s") from exc
    raw = b"".join(chunks)
    text = raw[:500].decode("utf-8", errors="replace")
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to parse
        body = None
    return JsonResponse(response.status_code, body, text)


def clip(value: object, limit: int = 200) -> str:
    """A bounded repr for error messages: answers may be megabytes or deeply nested."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # nested too deeply; an int too long to print
        text = f"<{type(value).__name__}>"
    return text[:limit]


def as_int(value: object, what: str) -> int:
    """CometBFT and the gRPC gateway send 64-bit integers as JSON strings."""
    if isinstance(value, bool):
        raise ProtocolError(f"{what}: expected an integer, got {clip(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ProtocolError(f"{what}: expected an integer, got {clip(value)}")


def as_dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def as_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what}: expected a string, got {clip(value)}")
    return value
