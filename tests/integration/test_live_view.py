"""The live view in a real terminal: `rehearse watch` against a real node, read
through a pseudo-terminal and a terminal emulator (pexpect + pyte)."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

from .solo_chain import REPO, SoloChain

pexpect = pytest.importorskip("pexpect")
pyte = pytest.importorskip("pyte")

pytestmark = [pytest.mark.chain, pytest.mark.timeout(90)]

COLS, ROWS = 100, 30


class Terminal:
    def __init__(self, child: object) -> None:
        self.child = child
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.Stream(self.screen)

    def pump(self, seconds: float) -> bool:
        """Feed the emulator for ``seconds``; False once the program has exited."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.stream.feed(self.child.read_nonblocking(65536, timeout=0.1))  # type: ignore[attr-defined]
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                return False
        return True

    @property
    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def height(self) -> int | None:
        m = re.search(r"^solo\s+(\d+)\s", self.text, re.MULTILINE)
        return int(m.group(1)) if m else None

    def wait_for(self, what: str, predicate: object, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if predicate():  # type: ignore[operator]
                return
            if not self.pump(0.3):
                break  # the program ended: what it wrote last is on screen now
        if predicate():  # type: ignore[operator]
            return
        raise AssertionError(f"no {what} on screen:\n{self.text}")


def test_watch_live_view_shows_heights_and_phases_and_ends_with_a_summary(
    solo_chain: SoloChain, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[nodes]]\nname = "solo"\nrpc = "{solo_chain.rpc_url}"\nrest = "{solo_chain.api_url}"\n'
        '[chain]\ntx_node = "solo"\n[scenarios]\nvalidators = ["solo"]\n'
        'no_cosmovisor_node = "solo"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(PYTHONPATH=str(REPO), TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS))
    child = pexpect.spawn(
        sys.executable,
        ["-m", "agent", "watch", "--config", str(config)],
        cwd=str(tmp_path),
        env=env,
        dimensions=(ROWS, COLS),
        encoding="utf-8",
    )
    term = Terminal(child)
    try:
        term.wait_for("node row", lambda: term.height() is not None, 30)
        first = term.height()
        assert first is not None
        term.wait_for("new height", lambda: (term.height() or 0) > first, 15)
        text = term.text
        assert "· launched › · proposed › · voted › · passed › · upgraded › · restarted" in text
        assert "watching only" in text and "none firing" in text
        child.sendintr()
        term.wait_for("closing summary", lambda: "rehearse watch: stopped" in term.text, 15)
        term.pump(5)  # until EOF
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, term.text
    assert "exit 0" in term.text and "heights   solo" in term.text
    assert "Traceback" not in term.text
