"""Retries with exponential backoff and full jitter, bounded by tries and total time.

The waiting is injectable (``sleep``, ``clock``, ``rng``) so that tests run instantly
and deterministically. The caller decides, per result, how many attempts that kind
of result deserves (a rate limit: all of them; a bad symbol: one).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

Result = TypeVar("Result")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up on one request.

    Attributes:
        tries: attempts in all for a transient failure (rate limit, network error).
        base_delay: seconds; the n-th wait is uniform in ``[0, min(max_delay, base_delay * 2**n)]``.
        max_delay: cap of one wait, in seconds.
        total_timeout: no new attempt starts when it would wait past this many seconds
            since the first one began.
        empty_retries: extra attempts for a silent empty answer (usually a bad symbol or
            no network, so at most one by default).
    """

    tries: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    total_timeout: float = 120.0
    empty_retries: int = 1

    def __post_init__(self) -> None:
        if self.tries < 1:
            raise ValueError(f"retry.tries must be at least 1. Received: tries={self.tries}")
        if self.empty_retries < 0:
            raise ValueError(
                f"retry.empty_retries must be >= 0. Received: empty_retries={self.empty_retries}"
            )
        for name in ("base_delay", "max_delay", "total_timeout"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"retry.{name} must be >= 0. Received: {name}={value}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | RetryPolicy | None) -> RetryPolicy:
        """A policy from a config mapping such as ``data.options.retry``.

        Raises:
            ValueError: an unknown key or a value of the wrong type, naming both.
        """
        if isinstance(options, RetryPolicy):
            return options
        known = {field.name: field.type for field in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in dict(options or {}).items():
            if key not in known:
                raise ValueError(
                    f"unknown option {key!r}; use {', '.join(known)}. Received: {key}={value!r}"
                )
            kind = int if key in ("tries", "empty_retries") else float
            try:
                if isinstance(value, bool):
                    raise TypeError
                values[key] = kind(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"retry.{key} must be a number. Received: {key}={value!r}"
                ) from None
        return cls(**values)

    def single_try(self) -> RetryPolicy:
        """The same policy with retries switched off."""
        return replace(self, tries=1, empty_retries=0)

    def delay(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Full-jitter wait before retry ``retry_number`` (0 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0**retry_number)
        return (rng or random).uniform(0.0, ceiling)


def retry(
    call: Callable[[], Result],
    policy: RetryPolicy,
    *,
    tries_for: Callable[[Result], int],
    describe: Callable[[Result], str] = repr,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> Result:
    """Call ``call`` until its result needs no more tries, waiting with full jitter.

    ``call`` reports failures in its result instead of raising. ``tries_for(result)``
    says how many attempts in all a result of that kind may use: 1 for a success or
    a permanent failure, ``policy.tries`` for a transient one.

    Returns:
        The last result: the first one that needs no retry, or the last failure when
        the tries or the time budget ran out.
    """
    started = clock()
    attempt = 1
    while True:
        result = call()
        allowed = min(tries_for(result), policy.tries)
        if attempt >= allowed:
            return result
        delay = policy.delay(attempt - 1, rng)
        if clock() - started + delay > policy.total_timeout:
            logger.info("Giving up after %d attempt(s): the retry time budget is spent.", attempt)
            return result
        logger.warning(
            "%s; retry %d of %d in %.1f s.", describe(result), attempt, allowed - 1, delay
        )
        sleep(delay)
        attempt += 1
