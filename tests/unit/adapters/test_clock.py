from __future__ import annotations

import anyio
import pytest

from agent.adapters.clock import FakeClock, SystemClock

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(5)]


async def test_fake_clock_sleep_advances_time_without_waiting() -> None:
    clock = FakeClock(wall=100.0, monotonic=5.0)
    real_start = anyio.current_time()
    await clock.sleep(3600)
    assert clock.wall() == 3700.0
    assert clock.monotonic() == 3605.0
    assert clock.sleeps == [3600]
    assert anyio.current_time() - real_start < 1.0


async def test_fake_clock_sleep_is_a_cancellation_point() -> None:
    clock = FakeClock()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await clock.sleep(1)
        pytest.fail("sleep did not deliver the cancellation")
    assert scope.cancelled_caught


async def test_system_clock_is_roughly_now() -> None:
    import time

    clock = SystemClock()
    assert abs(clock.wall() - time.time()) < 1
    before = clock.monotonic()
    await clock.sleep(0.01)
    assert clock.monotonic() > before


def test_system_wall_clock_ignores_a_step_of_the_system_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    clock = SystemClock()
    before = clock.wall()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600.0)  # someone ran `date -s`
    assert clock.wall() - before < 1.0  # an age measured across the step stays an age
    assert SystemClock().wall() - before > 3599.0  # a new process sees the new time
