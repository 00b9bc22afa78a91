"""app.backoff.Backoff: exponential growth to a cap, a jittered factor, reset after success."""

import random

from app.backoff import Backoff


def test_grows_caps_and_resets() -> None:
    b = Backoff(1.0, 8.0, jitter=(1.0, 1.0))
    assert [b.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    b.reset()
    assert b.next() == 1.0


def test_jitter_stays_in_its_band() -> None:
    b = Backoff(0.5, 60.0, jitter=(0.5, 1.5), rng=random.Random(7))
    for attempt in range(12):
        base = min(60.0, 0.5 * 2**attempt)
        assert 0.5 * base <= b.next() < 1.5 * base


def test_many_failures_do_not_overflow() -> None:
    b = Backoff(0.1, 30.0, rng=random.Random(1))
    assert 15.0 <= b.delay(5000) <= 30.0
