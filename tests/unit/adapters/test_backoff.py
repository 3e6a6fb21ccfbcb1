from __future__ import annotations

import random

import pytest

from agent.adapters.backoff import Backoff


def test_no_jitter_grows_geometrically_to_the_cap() -> None:
    b = Backoff(initial=0.2, cap=5.0, factor=2.0, jitter="none")
    delays = [b.next_delay() for _ in range(8)]
    assert delays == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])


def test_reset_starts_small_again() -> None:
    b = Backoff(initial=0.2, cap=5.0, jitter="none")
    for _ in range(5):
        b.next_delay()
    b.reset()
    assert b.next_delay() == pytest.approx(0.2)
    assert b.attempt == 1


@pytest.mark.parametrize("jitter", ["full", "equal"])
def test_jitter_stays_within_bounds(jitter: str) -> None:
    rng = random.Random(7)
    b = Backoff(initial=0.2, cap=5.0, jitter=jitter, random=rng.random)  # type: ignore[arg-type]
    for _ in range(200):
        ceiling = b.ceiling()
        delay = b.next_delay()
        low = ceiling / 2 if jitter == "equal" else 0.0
        assert low <= delay <= ceiling <= 5.0


def test_jitter_uses_the_injected_random_source() -> None:
    full = Backoff(initial=1.0, cap=10.0, jitter="full", random=lambda: 0.25)
    equal = Backoff(initial=1.0, cap=10.0, jitter="equal", random=lambda: 0.0)
    assert full.next_delay() == pytest.approx(0.25)
    assert full.next_delay() == pytest.approx(0.5)
    assert equal.next_delay() == pytest.approx(0.5)
    assert equal.next_delay() == pytest.approx(1.0)


def test_huge_attempt_counts_do_not_overflow() -> None:
    b = Backoff(initial=0.2, cap=5.0, jitter="none")
    for _ in range(5000):
        b.next_delay()
    assert b.next_delay() == 5.0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 0}, {"initial": 2.0, "cap": 1.0}, {"factor": 0.5}, {"jitter": "sideways"}],
)
def test_rejects_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]
