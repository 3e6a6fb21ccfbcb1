"""Adapters to the outside world: CometBFT RPC and websocket, Cosmos REST,
Docker events, Compose, the chain CLI, processes, the journal and ledger,
files, the clock and backoff. Library errors are translated here into
``agent.errors``; nothing above this package sees an httpx or aiodocker error.
"""
