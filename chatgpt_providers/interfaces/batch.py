"""Many prompts at once: ``bot.batch(prompts, workers=4, progress=True)``."""

from __future__ import annotations

import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, List, Optional, Union

from .. import errors
from ..core.results import Answer

__all__ = ["run_batch", "RateGate"]

log = logging.getLogger("chatgpt_providers")

#: Seconds to pause new work after a rate limit that named no wait.
DEFAULT_PAUSE = 2.0


class RateGate:
    """How many prompts may be in flight, shrinking when the site rate-limits.

    A rate limit halves the allowed number (at least 1) and pauses new work for the wait
    the site asked for; every few successes in a row let one more back in.

    >>> gate = RateGate(4, clock=lambda: 0.0)
    >>> gate.slow_down(3.0)
    >>> gate.allowed, gate.paused_until
    (2, 3.0)
    """

    def __init__(self, workers: int, *, clock: Callable[[], float] = time.monotonic,
                 recover_after: int = 5) -> None:
        self.workers = workers
        self.allowed = workers
        self.active = 0
        self.paused_until = 0.0
        self._successes = 0
        self._recover_after = recover_after
        self._clock = clock
        self._condition = threading.Condition()

    def __enter__(self) -> RateGate:
        with self._condition:
            while True:
                wait = self.paused_until - self._clock()
                if self.active < self.allowed and wait <= 0:
                    self.active += 1
                    return self
                self._condition.wait(timeout=wait if wait > 0 else None)

    def __exit__(self, *exc_info) -> None:
        with self._condition:
            self.active -= 1
            self._condition.notify_all()

    def slow_down(self, retry_after: Optional[float]) -> None:
        """A rate limit: fewer at once, and a pause before the next one starts (see the
        class example)."""
        with self._condition:
            self.allowed = max(1, self.allowed // 2)
            self._successes = 0
            pause = retry_after if retry_after is not None else DEFAULT_PAUSE
            self.paused_until = max(self.paused_until, self._clock() + pause)
            log.info("batch: rate limited; %d at a time, pausing %.1f s", self.allowed, pause)
            self._condition.notify_all()

    def succeeded(self) -> None:
        """A success: after ``recover_after`` in a row, one more may run at once.

        >>> gate = RateGate(4, recover_after=1); gate.slow_down(0); gate.succeeded()
        >>> gate.allowed
        3
        """
        with self._condition:
            self._successes += 1
            if self._successes >= self._recover_after and self.allowed < self.workers:
                self.allowed += 1
                self._successes = 0
                self._condition.notify_all()


def run_batch(provider: Any, prompts: Iterable[Any], *, workers: int = 4,
              progress: bool = False) -> List[Union[Answer, Exception]]:
    """Answer every prompt (a string or a message list) with ``workers`` threads.

    Results come in input order; an item that failed holds its exception (a
    :class:`~chatgpt_providers.ProviderError`, or ValueError for a bad prompt) and the rest
    go on. Rate limits slow the pool down (see :class:`RateGate`). With ``progress``, a
    tqdm bar when tqdm is installed, else a counter on stderr.

    >>> from chatgpt_providers import ChatGptt
    >>> from chatgpt_providers.testing import LocalSite
    >>> with LocalSite() as site:
    ...     run_batch(ChatGptt(base_url=site.url), ["a", "b", []], workers=2)
    ['Echo: a', 'Echo: b', ValueError("messages is empty; pass at least one user message, e.g. 'Hi'")]
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1; got {workers!r}")
    items = list(prompts)
    results: List[Union[Answer, Exception, None]] = [None] * len(items)
    gate = RateGate(workers)
    bar = _Progress(len(items)) if progress else None

    def answer(index: int) -> None:
        with gate:
            try:
                results[index] = provider.complete(items[index])
            except (errors.ProviderError, ValueError) as exc:
                results[index] = exc
                if isinstance(exc, errors.RateLimitError):
                    gate.slow_down(exc.retry_after)
            else:
                gate.succeeded()
        if bar is not None:
            bar.advance(failed=isinstance(results[index], Exception))

    try:
        with ThreadPoolExecutor(max_workers=min(workers, max(1, len(items)))) as pool:
            list(pool.map(answer, range(len(items))))
    finally:
        if bar is not None:
            bar.close()
    return results  # type: ignore[return-value]


class _Progress:
    """A tqdm bar when tqdm is installed, else ``batch: 3/10 (1 failed)`` on stderr."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = self.failed = 0
        self._lock = threading.Lock()
        try:
            from tqdm import tqdm
        except ImportError:
            self._bar = None
            self._show()
        else:
            self._bar = tqdm(total=total, desc="batch", unit="prompt")

    def advance(self, *, failed: bool) -> None:
        with self._lock:
            self.done += 1
            self.failed += failed
            if self._bar is not None:
                self._bar.update(1)
                if self.failed:
                    self._bar.set_postfix(failed=self.failed)
            else:
                self._show()

    def _show(self) -> None:
        failed = f" ({self.failed} failed)" if self.failed else ""
        sys.stderr.write(f"\rbatch: {self.done}/{self.total}{failed}")
        sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            sys.stderr.write("\n")
            sys.stderr.flush()
