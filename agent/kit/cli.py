"""``rehearse init --chain``: the kit's command line, kept out of ``agent.cli``."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from agent.config import Config
from agent.errors import AgentError
from agent.kit.probe import ProbeError, probe, render_profile

__all__ = ["init_chain", "kit_down"]

EXIT_OK, EXIT_USAGE = 0, 2


def _parse(pairs: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in ("v1", "v2") or not value:
            raise ValueError(f"--chain: {pair!r} is not v1=PATH or v2=PATH")
        out[key] = Path(value).expanduser()
    if set(out) != {"v1", "v2"}:
        raise ValueError(f"--chain: give v1=PATH and v2=PATH (got {' '.join(pairs)})")
    return out


def init_chain(dest: Path, pairs: list[str], upgrade: str, *, force: bool) -> int:
    """Write ``dest/rehearse.toml``; exit 2 naming the bad input, nothing written."""
    try:
        paths = _parse(pairs)
        if not upgrade or any(c.isspace() for c in upgrade):
            raise ValueError(f"--upgrade: {upgrade!r} is not a plan name (e.g. v2)")
        target = dest / "rehearse.toml"
        if target.exists() and not force:
            raise ValueError(f"{target} exists: --force overwrites it")
        facts = {k: probe(p) for k, p in paths.items()}
    except (ValueError, ProbeError) as exc:
        print(f"rehearse: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if facts["v1"].name != facts["v2"].name:
        print(f"rehearse: warning: v1 is {facts['v1'].name}, v2 is {facts['v2'].name}: "
              f"Cosmovisor runs both as {facts['v1'].name}", file=sys.stderr)  # fmt: skip
    dest.mkdir(parents=True, exist_ok=True)
    target.write_text(render_profile(facts["v1"], facts["v2"], upgrade, dest))
    v1 = facts["v1"]
    print(f"wrote {target}: {v1.name} ({v1.sdk_version or v1.line or 'SDK line unknown'}), "
          f"prefix {v1.bech32_prefix}, denom {v1.denom}, upgrade {upgrade}")  # fmt: skip
    print(f"next: export REHEARSE_KEYRING_PASSWORD=...; rehearse run --config {target}")
    return EXIT_OK


def kit_down(cfg: Config) -> int:
    """``rehearse kit down``: take the profile's stack down (its containers, networks
    and anonymous volumes; the homes stay, so the next run resets and reuses them)."""
    import logging

    import structlog

    from agent.adapters.compose import Compose, detect_compose

    # No log file for this one command: only warnings reach the terminal.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    s = cfg.stack
    files = [s.base_file, s.cosmovisor_file, s.v2_file]

    async def down() -> None:
        compose = Compose(await detect_compose(), s.project, cfg.compose_dir,
                          env=cfg.stack_env)  # fmt: skip
        await compose.down(files)

    try:
        anyio.run(down)
    except AgentError as exc:
        print(f"rehearse: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"stack {s.project} is down")
    return EXIT_OK
