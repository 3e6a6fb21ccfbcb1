"""What a rehearsal needs from the machine, checked before anything is launched
(``rehearse run`` and ``rehearse doctor`` share it): each problem is an exit 2
naming its true cause, never a rehearsal journaled as failed."""

from __future__ import annotations

import os
import re

import anyio

from agent.adapters.chaincli import ChainCLI
from agent.adapters.docker import Docker
from agent.config import Config, VoterConfig
from agent.errors import AgentError, ConfigError, DockerUnavailable

__all__ = ["check_keyring", "docker_reachable", "keyring_problem", "preflight"]

# What `keys show NAME` says (file backend) when the password is wrong, and when no
# key has that name: read from a real checkersd (SDK v0.53): "incorrect passphrase"
# ... "alice is not a valid name or address: too many failed passphrase attempts";
# "bob is not a valid name or address: decoding bech32 failed: ...".
_WRONG_PASSWORD = re.compile(
    r"incorrect passphrase|failed passphrase attempts|integrity check failed", re.IGNORECASE
)
_NO_KEY = re.compile(
    r"is not a valid name or address|key not found|could not be found in the keyring",
    re.IGNORECASE,
)


async def preflight(cfg: Config) -> None:
    """Docker answers and the CLI images exist."""
    await docker_reachable()
    for key in ("cli_image_v1", "cli_image_v2"):
        image = getattr(cfg.chain, key)
        if await Docker().image_id(image) is None:
            fix = "rehearse kit build" if cfg.kit is not None else "build or load it"
            raise ConfigError(f"chain.{key}", image, f"no such image ({fix})")


async def docker_reachable() -> None:
    try:
        await Docker().version()
    except (AgentError, OSError) as exc:
        raise ConfigError(
            "DOCKER_HOST",
            os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
            f"the Docker daemon is unreachable: {exc}",
        ) from None


def keyring_problem(cfg: Config, index: int, exc: AgentError) -> AgentError:
    """What failing to read voter ``index``'s address means: a wrong password, a key
    that is not in the keyring, or something else (a box that did not start), each
    named for what it is; "does not open the keyring" for every one misled."""
    v = cfg.voters[index]
    desk = cfg.path(v.desk)
    first = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, DockerUnavailable):
        return exc
    if _WRONG_PASSWORD.search(str(exc)):
        key = "keyring.password_file" if cfg.keyring.password_file else "keyring.password_env"
        return ConfigError(
            key,
            cfg.keyring.password_file or cfg.keyring.password_env,
            f"does not open voter {v.name}'s keyring in {desk}: {first}",
        )
    if _NO_KEY.search(str(exc)):
        return ConfigError(
            f"voters[{index}].key", v.key, f"is not a key in the keyring in {desk}: {first}"
        )
    return ConfigError(
        f"voters[{index}].desk", v.desk, f"voter {v.name}'s address could not be read: {exc}"
    )


async def check_keyring(cfg: Config, cli: ChainCLI) -> None:
    """Every voter's key opens with the password: one CLI container per voter, all
    at once; the first voter's problem (in configured order) is raised."""
    failures: dict[str, AgentError] = {}

    async def one(v: VoterConfig) -> None:
        try:
            await cli.address(v)
        except AgentError as exc:  # collected: an ExceptionGroup must not reach the user
            failures[v.name] = exc

    async with anyio.create_task_group() as tg:
        for v in cfg.voters:
            tg.start_soon(one, v)
    for i, v in enumerate(cfg.voters):
        if v.name in failures:
            raise keyring_problem(cfg, i, failures[v.name])
