"""The run wiring's preflight: environment problems are exit-2 errors naming the cause."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.config import Config, load_config
from agent.errors import ConfigError
from agent.runtime.preflight import preflight

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def cfg() -> Config:
    return load_config(REPO / "config.toml")


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI")
async def test_unreachable_docker_is_named_not_mistaken_for_a_password(
    cfg: Config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(ConfigError) as info:
        await preflight(cfg)
    assert info.value.key == "DOCKER_HOST"
    assert "unreachable" in str(info.value)


def test_a_rehearsals_streams_reconnect_at_least_once_a_second(cfg: Config) -> None:
    """After the upgrade halt every node's stream reconnects as soon as its node is
    back: a 5 s backoff once held a node's first v2 block back by more than a second
    (the cap was defined and never passed)."""
    import anyio

    from agent.adapters.clock import SystemClock
    from agent.adapters.ws import NewBlockSource
    from agent.core.observations import Observation
    from agent.runtime.streams import REHEARSAL_RECONNECT_CAP, rehearsal_sources

    send, recv = anyio.create_memory_object_stream[Observation](1)
    with send, recv:
        made = rehearsal_sources(cfg, {n.name: None for n in cfg.nodes}, SystemClock())(send)  # type: ignore[misc]
        ws = [s for s in made if isinstance(s, NewBlockSource)]
        assert len(ws) == len(cfg.nodes)
        assert {s._backoff.cap for s in ws} == {REHEARSAL_RECONNECT_CAP}
        for s in made:
            s._send.close()  # type: ignore[attr-defined]


async def test_the_apps_heights_are_read_from_each_node_and_a_silent_one_is_none() -> None:
    """``NodeReads.app_heights``: each node's own RPC (``abci_info``), all at once; a
    node that does not answer (restarting) is None, and does not blind the others."""
    from agent.adapters.rpc import AbciInfo
    from agent.errors import TransientError
    from agent.runtime.clients import NodeReads

    class Rpc:
        def __init__(self, height: int | None) -> None:
            self.height = height

        async def abci_info(self) -> AbciInfo:
            if self.height is None:
                raise TransientError("connection refused")
            return AbciInfo(2, "v2", self.height)

    rpcs = {"a": Rpc(12), "b": Rpc(None), "c": Rpc(11)}
    reads = NodeReads(None, rpcs)  # type: ignore[arg-type]
    got = await reads.app_heights(["a", "b", "c", "unknown"])
    assert got == {"a": 12, "b": None, "c": 11, "unknown": None}


@pytest.mark.parametrize(
    ("said", "key", "words"),
    [
        # What a real checkersd (SDK v0.53) says, its usage text cut.
        ("incorrect passphrase\nEOF\nEOF\nUsage: ...\nalice is not a valid name or "
         "address: too many failed passphrase attempts", "keyring.password_env",
         "does not open voter alice's keyring"),
        ("Usage: ...\nbob is not a valid name or address: decoding bech32 failed: invalid "
         "bech32 string length 3", "voters[0].key", "is not a key in the keyring"),
        ("docker: Error response from daemon: invalid mount config", "voters[0].desk",
         "invalid mount config"),
    ],
)  # fmt: skip
def test_a_keyring_failure_is_named_for_its_true_cause(
    cfg: Config, said: str, key: str, words: str
) -> None:
    # Issue 19 L7: a box that failed, or a wrong key name, was reported as a password
    # that "does not open voter alice's keyring".
    from agent.errors import CommandFailed, DockerUnavailable
    from agent.runtime.preflight import keyring_problem

    err = keyring_problem(cfg, 0, CommandFailed(["docker", "exec"], 1, said))
    assert isinstance(err, ConfigError) and err.key == key, err
    assert words in str(err)
    down = DockerUnavailable("the Docker daemon is unreachable: x")
    assert keyring_problem(cfg, 0, down) is down
