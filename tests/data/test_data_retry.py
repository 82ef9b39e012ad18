"""Exponential backoff with full jitter, bounded by tries and by total time."""

from __future__ import annotations

import random

import pytest

from fincast.data.retry import RetryPolicy, retry


class FakeClock:
    """Time that moves only when the fake sleep waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def replies(*values: str):
    """A call that returns ``values`` in turn (the last one repeats) and counts calls."""
    remaining = list(values)
    calls: list[str] = []

    def call() -> str:
        value = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        calls.append(value)
        return value

    return call, calls


def tries_for(result: str) -> int:
    return {"ok": 1, "fatal": 1, "empty": 2}.get(result, 100)


def run(call, policy: RetryPolicy, clock: FakeClock, seed: int = 0) -> str:
    return retry(
        call, policy, tries_for=tries_for, sleep=clock.sleep, clock=clock, rng=random.Random(seed)
    )


def test_success_first_time_never_waits() -> None:
    clock = FakeClock()
    call, calls = replies("ok")
    assert run(call, RetryPolicy(), clock) == "ok"
    assert calls == ["ok"] and clock.waits == []


def test_transient_failures_then_success() -> None:
    clock = FakeClock()
    call, calls = replies("busy", "busy", "ok")
    assert run(call, RetryPolicy(tries=4), clock) == "ok"
    assert calls == ["busy", "busy", "ok"]
    assert len(clock.waits) == 2


def test_gives_up_after_tries() -> None:
    clock = FakeClock()
    call, calls = replies("busy")
    assert run(call, RetryPolicy(tries=4), clock) == "busy"
    assert len(calls) == 4 and len(clock.waits) == 3


def test_permanent_failure_is_not_retried() -> None:
    clock = FakeClock()
    call, calls = replies("fatal", "ok")
    assert run(call, RetryPolicy(tries=4), clock) == "fatal"
    assert calls == ["fatal"]


def test_kind_limit_below_policy_tries() -> None:
    clock = FakeClock()
    call, calls = replies("empty")
    run(call, RetryPolicy(tries=4), clock)
    assert len(calls) == 2


def test_policy_tries_cap_the_kind_limit() -> None:
    clock = FakeClock()
    call, calls = replies("empty")
    run(call, RetryPolicy(tries=1), clock)
    assert len(calls) == 1


@pytest.mark.parametrize("seed", range(20))
def test_waits_are_full_jitter_under_an_exponential_cap(seed: int) -> None:
    clock = FakeClock()
    call, _ = replies("busy")
    policy = RetryPolicy(tries=8, base_delay=0.5, max_delay=4.0, total_timeout=1e9)
    run(call, policy, clock, seed)
    caps = [min(4.0, 0.5 * 2**n) for n in range(7)]
    assert len(clock.waits) == 7
    assert all(0.0 <= wait <= cap for wait, cap in zip(clock.waits, caps, strict=True))


def test_jitter_spreads_waits_over_the_whole_range() -> None:
    rng = random.Random(1)
    waits = [RetryPolicy(base_delay=1.0).delay(3, rng) for _ in range(2000)]
    assert min(waits) < 0.5 and max(waits) > 7.5  # uniform on [0, 8]
    assert 3.5 < sum(waits) / len(waits) < 4.5


def test_total_timeout_bounds_the_time_spent() -> None:
    clock = FakeClock()
    call, calls = replies("busy")
    policy = RetryPolicy(tries=100, base_delay=1.0, max_delay=1.0, total_timeout=5.0)
    run(call, policy, clock)
    assert clock.now <= 5.0
    assert len(calls) < 100


def test_zero_time_budget_means_one_attempt() -> None:
    clock = FakeClock()
    call, calls = replies("busy")
    run(call, RetryPolicy(tries=5, total_timeout=0.0), clock)
    assert len(calls) == 1


def test_from_options_converts_and_checks() -> None:
    policy = RetryPolicy.from_options({"tries": "3", "base_delay": 2, "total_timeout": 10})
    assert policy == RetryPolicy(tries=3, base_delay=2.0, total_timeout=10.0)
    assert RetryPolicy.from_options(None) == RetryPolicy()
    assert RetryPolicy.from_options(policy) is policy


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tries": 0}, "tries must be at least 1"),
        ({"base_delay": -1}, "base_delay must be >= 0. Received: base_delay=-1.0"),
        ({"tries": "many"}, "retry.tries must be a number. Received: tries='many'"),
        ({"tries": True}, "retry.tries must be a number"),
        ({"wait": 1}, "unknown option 'wait'"),
    ],
)
def test_bad_options_name_the_key_and_value(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy.from_options(options)


def test_single_try_switches_retries_off() -> None:
    policy = RetryPolicy(tries=5, empty_retries=2).single_try()
    assert policy.tries == 1 and policy.empty_retries == 0
