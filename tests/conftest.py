from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import structlog
from blockbuster import BlockBuster, blockbuster_ctx

# structlog's default console renderer formats tracebacks with rich when rich is
# installed (it is: the live view), and rich reads source files to do it: a
# blocking call inside the event loop. Tests render them plainly, as before.
structlog.configure(
    processors=[
        *structlog.get_config()["processors"][:-1],
        structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback),
    ]
)


@pytest.fixture
def anyio_backend() -> str:
    # websockets' and aiodocker's clients are asyncio-only.
    return "asyncio"


@pytest.fixture(autouse=True)
def blockbuster(request: pytest.FixtureRequest) -> Iterator[BlockBuster | None]:
    """Fail any test whose code blocks the event loop (file or socket I/O, time.sleep).

    Not (yet) for e2e runs: those drive the whole daemon for minutes, and a blocking call
    there should be found by a unit or integration test first.
    """
    if request.node.get_closest_marker("e2e") is not None:
        yield None
        return
    with blockbuster_ctx() as bb:
        yield bb


@pytest.fixture(autouse=True)
def _sigpipe_kept() -> Iterator[None]:
    """``rehearse scenarios|status|check-config`` restore SIGPIPE's default (a listing
    piped into ``head`` ends quietly). Run in-process by a test, that would make any
    later test that writes to a child which exited (a secret to a CLI that never
    read it) kill pytest itself, now and then, depending on the order and timing."""
    before = signal.getsignal(signal.SIGPIPE)
    yield
    signal.signal(signal.SIGPIPE, before)
