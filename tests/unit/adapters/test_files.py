"""The one atomic write: content, no leftovers, cleanup on error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.adapters.files import read_json, read_json_lines, write_atomic, write_json_atomic


@pytest.fixture(autouse=True)
def _no_blockbuster(blockbuster: object) -> None:
    """Plain sync tests: blocking file I/O is the point here."""
    if blockbuster is not None:
        blockbuster.deactivate()  # type: ignore[attr-defined]


def test_text_bytes_and_json(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.txt"
    write_atomic(target, "héllo")
    assert target.read_text(encoding="utf-8") == "héllo"
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    write_json_atomic(tmp_path / "d.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "d.json").read_text() == '{"a":[1,2],"b":1}'
    assert read_json(tmp_path / "d.json") == {"a": [1, 2], "b": 1}
    assert read_json(tmp_path / "missing.json") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json", "sub"]
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["f.txt"]


def test_failure_removes_the_tmp_and_keeps_the_old_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.json"
    write_atomic(target, "old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("agent.adapters.files.os.fsync", broken_fsync)
    with pytest.raises(OSError):
        write_atomic(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_unencodable_json_never_touches_the_disk(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "x.json", {"a": object()})
    assert list(tmp_path.iterdir()) == []


def test_tmp_names_are_unique(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        seen.append(os.fspath(src))
        real_replace(src, dst)

    monkeypatch.setattr("agent.adapters.files.os.replace", spy)
    write_atomic(tmp_path / "a", "1")
    write_atomic(tmp_path / "a", "2")
    assert len(set(seen)) == 2
    assert all(Path(s).parent == tmp_path for s in seen)


def test_read_json_too_deep_is_a_value_error(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError):
        read_json(tmp_path / "deep.json")


def test_read_json_lines_skips_a_torn_line_and_what_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    assert read_json_lines(path) == []  # missing: empty
    path.write_text('{"a": 1}\n[1, 2]\n"text"\n' + "[" * 5000 + "\n" + '{"b": 2}\n{"c": ')
    assert read_json_lines(path) == [{"a": 1}, {"b": 2}]


def test_read_json_lines_lets_an_unreadable_file_be_the_callers_call(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        read_json_lines(tmp_path)  # a directory: not "empty"
