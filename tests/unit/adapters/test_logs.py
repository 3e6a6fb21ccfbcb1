"""The JSON-lines log rotates by size and keeps at most N backups."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from agent.logs import RotatingFile, configure_logging


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _names(d: Path) -> set[str]:
    return {p.name for p in d.iterdir()}


def test_writing_past_the_size_rotates_and_keeps_n_backups(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    f = RotatingFile(log, max_bytes=100, backups=3)
    line = "x" * 39 + "\n"  # 40 bytes: two lines fit, the third rotates
    f.write(line)
    f.write(line)
    assert _names(tmp_path) == {"agent.log"}
    f.write(line)
    assert _names(tmp_path) == {"agent.log", "agent.log.1"}
    assert log.stat().st_size == 40 and (tmp_path / "agent.log.1").stat().st_size == 80
    for i in range(20):
        f.write(f"{i:039d}\n")
    f.close()
    assert _names(tmp_path) == {"agent.log", "agent.log.1", "agent.log.2", "agent.log.3"}
    for p in tmp_path.iterdir():
        assert p.stat().st_size <= 100
    # Newest in agent.log, then .1, .2, .3: nothing lost in between.
    lines = [
        ln
        for name in ("agent.log.3", "agent.log.2", "agent.log.1", "agent.log")
        for ln in (tmp_path / name).read_text().splitlines()
    ]
    assert lines == [f"{i:039d}" for i in range(13, 20)]


def test_zero_backups_empties_and_zero_size_never_rotates(tmp_path: Path) -> None:
    f = RotatingFile(tmp_path / "a.log", max_bytes=10, backups=0)
    f.write("123456\n")
    f.write("abcdef\n")
    f.close()
    assert _names(tmp_path) == {"a.log"}
    assert (tmp_path / "a.log").read_text() == "abcdef\n"
    g = RotatingFile(tmp_path / "b.log", max_bytes=0, backups=2)
    for _ in range(100):
        g.write("0123456789\n")
    g.close()
    assert (tmp_path / "b.log").stat().st_size == 1100 and "b.log.1" not in _names(tmp_path)


def test_a_second_writer_follows_a_rotation(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    a = RotatingFile(log, max_bytes=50, backups=2)
    b = RotatingFile(log, max_bytes=50, backups=2)
    a.write("a" * 29 + "\n")
    b.write("b" * 29 + "\n")  # combined size past 50: b rotates
    a.write("c" * 9 + "\n")  # a writes to the new file (40 bytes): no second rotation
    a.close()
    b.close()
    assert (tmp_path / "agent.log.1").read_text() == "a" * 29 + "\n"
    assert log.read_text() == "b" * 29 + "\n" + "c" * 9 + "\n"
    assert "agent.log.2" not in _names(tmp_path)


@pytest.mark.usefixtures("restore_structlog")
def test_pipeline_rotates_the_json_log(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    out = configure_logging(log, "info", io.StringIO(), quiet=True, max_bytes=2000, backups=2)
    try:
        for i in range(200):
            structlog.get_logger("t").info("tick", n=i)
    finally:
        out.close()
    assert _names(tmp_path) == {"agent.log", "agent.log.1", "agent.log.2"}
    last = log.read_text().splitlines()[-1]
    assert json.loads(last)["n"] == 199
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())


def test_the_crash_supervisor_keeps_tailing_across_a_rotation(tmp_path: Path) -> None:
    from agent.runtime.supervisor import _events

    def line(name: str) -> str:
        return json.dumps({"event": name, "pad": "x" * 60}) + "\n"

    log = tmp_path / "agent.log"
    f = RotatingFile(log, max_bytes=200, backups=1)
    f.write(line("a"))
    events, pos = _events(log, (0, 0))
    assert [e["event"] for e in events] == ["a"]
    f.write(line("b"))  # unread when the file rotates
    f.write(line("c"))  # rotates: a, b in agent.log.1
    f.write(line("d"))
    events, pos = _events(log, pos)
    assert [e["event"] for e in events] == ["b", "c", "d"]
    f.write(line("e"))
    f.close()
    events, _ = _events(log, pos)
    assert [e["event"] for e in events] == ["e"]
