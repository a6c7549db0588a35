"""When to try a failed call again: transient failures only, before any text, and never
once the message may have reached the site.

A call is retried when it failed before the first text was yielded and the failure is
transient: a connection error (or connect timeout), HTTP 502/503/504, or HTTP 429 (waiting
what ``Retry-After`` asks, up to ``max_retry_wait``). Once the request that delivers the
message has gone out, the site may have it (running the model, logging the chat, counting
the visitor's quota), so a failure from then on is raised, not retried, unless it shows the
site never took the message: no connection could be made, HTTP 429, or HTTP 503. Opt in to
retrying the rest with ``retry_accepted=True`` (the message may then reach the site twice).
A refusal (rejected message, blocked, plugin quota, nonce refused after its one refresh) is
never retried, and nothing is replayed once text has been yielded.
"""

from __future__ import annotations

import random as _random
import time
from typing import Callable, Optional

from .. import errors

__all__ = ["RetryPolicy"]

_GATEWAY_STATUSES = (502, 503, 504)


class RetryPolicy:
    """How many retries, how long to wait, and the clock and sleep to do it with.

    >>> policy = RetryPolicy(retries=2, max_retry_wait=10)
    >>> policy.wait_before_retry(errors.ServerError("bad gateway", status_code=502), 0) <= 0.5
    True
    >>> policy.wait_before_retry(errors.RejectedError("no"), 0) is None
    True

    ``retries``: retries after the first attempt (0 turns retrying off). ``max_retry_wait``:
    the longest single wait in seconds; a ``Retry-After`` asking for more is not retried.
    ``backoff``: the first backoff in seconds, doubled on each retry, with jitter.
    ``retry_accepted``: also retry transient failures after the site began a 2xx answer
    (the message may then reach the model twice). Tests pass
    their own ``sleep``, ``clock`` and ``random`` to run retries without waiting.
    """

    def __init__(self, retries: int = 2, max_retry_wait: float = 20.0, backoff: float = 0.5, *,
                 retry_accepted: bool = False,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 random: Optional[Callable[[], float]] = None) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be a whole number >= 0; got {retries!r}")
        if isinstance(max_retry_wait, bool) or not isinstance(max_retry_wait, (int, float)) \
                or max_retry_wait < 0:
            raise ValueError(f"max_retry_wait must be seconds >= 0; got {max_retry_wait!r}")
        self.retries = retries
        self.max_retry_wait = max_retry_wait
        self.backoff = backoff
        self.retry_accepted = retry_accepted
        self.sleep = sleep
        self.clock = clock
        self.random = random or _random.Random().random

    def __repr__(self) -> str:
        return (f"RetryPolicy(retries={self.retries}, max_retry_wait={self.max_retry_wait}, "
                f"backoff={self.backoff}, retry_accepted={self.retry_accepted})")

    def backoff_delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: between half and all of ``backoff * 2**attempt``
        (capped at ``max_retry_wait``).

        >>> 1.0 <= RetryPolicy(backoff=0.5).backoff_delay(2) <= 2.0
        True
        """
        ceiling = min(self.max_retry_wait, self.backoff * (2 ** attempt))
        return ceiling * (0.5 + 0.5 * self.random())

    def wait_before_retry(self, exc: BaseException, attempt: int,
                          deadline: Optional[float] = None, *, accepted: bool = False
                          ) -> Optional[float]:
        """Seconds to wait before retry number ``attempt + 1``, or None to give up.

        ``deadline`` (on ``clock``'s scale) is when the whole call must be over; ``accepted``
        says the failure came once the request delivering the message had gone out.

        >>> cut = errors.StreamInterruptedError("cut before any text", status_code=200)
        >>> RetryPolicy().wait_before_retry(cut, 0, accepted=True) is None
        True
        >>> refused = errors.NetworkError("connection refused", phase="connect")
        >>> RetryPolicy(random=lambda: 0.0).wait_before_retry(refused, 0, accepted=True)
        0.25

        >>> busy = errors.RateLimitError("busy", retry_after=3.0, status_code=429)
        >>> RetryPolicy().wait_before_retry(busy, 0), RetryPolicy(retries=0).wait_before_retry(busy, 0)
        (3.0, None)
        """
        if attempt >= self.retries or not isinstance(exc, errors.ProviderError):
            return None
        if accepted and not self.retry_accepted and self.may_have_reached_site(exc):
            return None  # the site may have the message: sending it again could run it twice
        if isinstance(exc, errors.RateLimitError):
            if exc.status_code != 429:
                return None  # a plugin quota: waiting a little does not help
            wait = exc.retry_after if exc.retry_after is not None else self.backoff_delay(attempt)
            if wait > self.max_retry_wait:
                return None  # the site asks for longer than we may wait
        elif self.is_transient(exc):
            wait = self.backoff_delay(attempt)
        else:
            return None
        if deadline is not None and self.clock() + wait >= deadline:
            return None
        return wait

    @staticmethod
    def may_have_reached_site(exc: errors.ProviderError) -> bool:
        """False only for a failure that shows the site did not take a request: no
        connection was made, or the site answered HTTP 429 or 503 (not served).

        >>> RetryPolicy.may_have_reached_site(errors.ServerError("x", status_code=504))
        True
        >>> RetryPolicy.may_have_reached_site(errors.TimeoutError("x", phase="connect"))
        False
        """
        if isinstance(exc, errors.NetworkError):
            return exc.phase != "connect"
        return exc.status_code not in (429, 503)

    @staticmethod
    def is_transient(exc: errors.ProviderError) -> bool:
        """A failure that another attempt may well not meet.

        >>> RetryPolicy.is_transient(errors.ServerError("x", status_code=503))
        True
        >>> RetryPolicy.is_transient(errors.TimeoutError("x", phase="read"))
        False
        """
        if isinstance(exc, errors.TimeoutError):
            return exc.phase == "connect"
        if isinstance(exc, (errors.NetworkError, errors.StreamInterruptedError)):
            return True
        return isinstance(exc, errors.ServerError) and exc.status_code in _GATEWAY_STATUSES
