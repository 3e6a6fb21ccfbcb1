"""The pure core: every decision about a rehearsal, with no I/O.

Nothing in this package imports an I/O library (anyio, httpx, websockets,
aiodocker, structlog); a test enforces it. Observations come in, facts are
derived from them, the machine decides, actions go out.
"""
