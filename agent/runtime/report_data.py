"""What the report reads from the chain and Docker when it is written.

Missed blocks per validator around the upgrade (the commits of heights U-5..U+5,
from any node that has them), each node's binary version (``abci_info``) and the
image IDs of the configured images. Every read has a deadline and the whole
collection one more; a read that fails or runs out is "unknown", never an error:
the report must be written whatever the stack's state.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import anyio
import structlog

from agent.adapters.docker import Docker
from agent.adapters.rpc import CommitSignatures, ValidatorInfo
from agent.core.machine import State

__all__ = [
    "UNKNOWN",
    "WINDOW",
    "WINDOW_AFTER",
    "ReportData",
    "SignatureReads",
    "collect",
    "collect_for",
    "compose_images",
    "count_missed",
]

log = structlog.get_logger("agent.runtime.report_data")

UNKNOWN = "unknown"
WINDOW = 5  # heights before the upgrade height
# Heights after it: long enough to count a validator that upgraded late by hand
# (the late-validator scenario swaps it 10 blocks after the height).
WINDOW_AFTER = 25
READ_DEADLINE = 5.0  # one RPC read or one `docker image inspect`
TOTAL_DEADLINE = 30.0  # the whole collection

T = TypeVar("T")


@runtime_checkable
class SignatureReads(Protocol):
    """What the collector needs beyond ``CometRPC``: ``HttpCometRPC`` has both."""

    async def commit_signatures(self, height: int) -> CommitSignatures: ...

    async def validator_info(self) -> ValidatorInfo: ...


class _Versioned(Protocol):
    async def abci_info(self) -> Any: ...


@dataclass
class ReportData:
    """Everything ``collect`` found; JSON-ready through ``to_json``."""

    heights: tuple[int, int] | None = None  # the window checked, inclusive
    # validator node -> heights it did not sign (None: no commit could be read)
    missed: dict[str, list[int] | None] = field(default_factory=dict)
    checked: list[int] = field(default_factory=list)  # heights whose commit was read
    unreadable_nodes: list[str] = field(default_factory=list)  # /status failed
    versions: dict[str, str] = field(default_factory=dict)  # node -> version or "unknown"
    digests: dict[str, str] = field(default_factory=dict)  # image -> ID or "unknown"

    def to_json(self) -> dict[str, Any]:
        return {
            "missed_blocks": {
                "heights": list(self.heights) if self.heights else None,
                "checked_heights": self.checked,
                "validators": {
                    n: (
                        {"missed": None, "count": None}
                        if m is None
                        else {"missed": m, "count": len(m)}
                    )
                    for n, m in self.missed.items()
                },
                "status_unreadable": self.unreadable_nodes,
            },
            "versions": self.versions,
            "image_digests": self.digests,
        }


def count_missed(
    validators: Mapping[str, str], commits: Mapping[int, CommitSignatures | None]
) -> tuple[dict[str, list[int] | None], list[int]]:
    """Per validator (node name -> address), the heights whose commit lacks its
    signature; only heights with a commit count. None when no commit was read."""
    read = {h: c for h, c in sorted(commits.items()) if c is not None}
    out: dict[str, list[int] | None] = {}
    for name, address in validators.items():
        out[name] = (
            [h for h, c in read.items() if address.upper() not in c.signed] if read else None
        )
    return out, list(read)


_IMAGE = re.compile(r"^\s*image:\s*[\"']?([^\s\"'#]+)", re.MULTILINE)


def compose_images(files: Sequence[Path]) -> list[str]:
    """The ``image:`` values of simple Compose files (blocking; unreadable files skipped)."""
    out: list[str] = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except OSError:
            continue
        out += [m for m in _IMAGE.findall(text) if "$" not in m]
    return list(dict.fromkeys(out))


async def _guarded(what: str, fn: Callable[[], Awaitable[T]], deadline: float) -> T | None:
    try:
        with anyio.fail_after(deadline):
            return await fn()
    except Exception as exc:  # every failure is "unknown" in the report
        log.info("report_read_failed", what=what, error=str(exc) or type(exc).__name__)
        return None


async def _digest(docker: Docker, image: str, deadline: float) -> str:
    async def inspect() -> str:
        return await docker.image_id(image, deadline) or UNKNOWN

    return await _guarded(f"image {image}", inspect, deadline + 1) or UNKNOWN


async def collect(
    rpcs: Mapping[str, Any],
    upgrade_height: int | None,
    images: Sequence[str] = (),
    *,
    read_deadline: float = READ_DEADLINE,
    total_deadline: float = TOTAL_DEADLINE,
    docker: Docker | None = None,
) -> ReportData:
    """Read what the report needs; whatever is not read in time stays "unknown"."""
    docker = docker or Docker()
    data = ReportData(versions=dict.fromkeys(rpcs, UNKNOWN), digests=dict.fromkeys(images, UNKNOWN))
    validators: dict[str, str] = {}
    commits: dict[int, CommitSignatures | None] = {}
    sig_nodes = {n: r for n, r in rpcs.items() if isinstance(r, SignatureReads)}

    async def version(name: str, rpc: _Versioned) -> None:
        info = await _guarded(f"abci_info {name}", rpc.abci_info, read_deadline)
        v = getattr(info, "version", None)
        if isinstance(v, str) and v:
            data.versions[name] = v

    async def validator(name: str, rpc: SignatureReads) -> None:
        info = await _guarded(f"status {name}", rpc.validator_info, read_deadline)
        if info is None:
            data.unreadable_nodes.append(name)
        elif info.voting_power > 0:
            validators[name] = info.address

    async def commit(height: int) -> None:
        commits[height] = None
        for name, rpc in sig_nodes.items():

            def read(r: SignatureReads = rpc) -> Awaitable[CommitSignatures]:
                return r.commit_signatures(height)

            c = await _guarded(f"commit {height} from {name}", read, read_deadline)
            if c is not None:
                commits[height] = c
                return

    async def digest(image: str) -> None:
        data.digests[image] = await _digest(docker, image, read_deadline)

    with anyio.move_on_after(total_deadline) as scope:
        async with anyio.create_task_group() as tg:
            for name, rpc in rpcs.items():
                tg.start_soon(version, name, rpc)
            for name, srpc in sig_nodes.items():
                tg.start_soon(validator, name, srpc)
            if upgrade_height is not None:
                low = max(1, upgrade_height - WINDOW)
                data.heights = (low, upgrade_height + WINDOW_AFTER)
                for h in range(low, upgrade_height + WINDOW_AFTER + 1):
                    tg.start_soon(commit, h)
            for image in images:
                tg.start_soon(digest, image)
    if scope.cancelled_caught:
        log.warning("report_reads_cut_short", deadline=total_deadline)
    if data.heights is not None:
        data.missed, data.checked = count_missed(dict(sorted(validators.items())), commits)
    data.unreadable_nodes.sort()
    return data


async def collect_for(
    rpcs: Mapping[str, Any],
    state: State,
    *,
    cli_images: Sequence[str],
    compose_dir: Path,
    compose_files: Sequence[str],
    read_deadline: float,
    docker: Docker | None = None,
) -> ReportData:
    """``collect`` with the rehearsal's images: the CLI images and those of the
    Compose files it used (the scenario's launch overlays are the state's)."""
    files = [compose_dir / f for f in (*compose_files, *state.params.launch_overlays)]
    found = await anyio.to_thread.run_sync(compose_images, files)
    images = list(dict.fromkeys([*cli_images, *found]))
    return await collect(
        rpcs, state.upgrade_height, images, read_deadline=read_deadline, docker=docker
    )
