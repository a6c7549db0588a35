"""How long a call may take: the client's ``(connect, read)`` timeout, the timeout and
headers given for one call (``call_overrides``), and the deadline of the call's
``total_timeout`` (``call_deadline``) that every request and read of the call is held to.

Both context variables are set around each step of a call (each ``next()`` on its
generator), never for a generator's whole life, so calls interleaved in one thread each keep
their own.
"""

from __future__ import annotations

import contextvars
import time
from typing import Any, Mapping, Optional, Tuple, Union

__all__ = ["Timeout", "DEFAULT_TIMEOUT", "normalize_timeout", "call_deadline", "call_overrides",
           "time_left"]

Timeout = Union[float, Tuple[float, float]]
#: ``(connect, read)`` seconds. The read timeout bounds the gap between two reads of a stream.
DEFAULT_TIMEOUT: Tuple[float, float] = (10.0, 60.0)

#: ``(deadline, total seconds)`` of the call whose code is running, or None. The loop sets it
#: around each step of a call's generator (``core.loop._under_deadline``), never for the
#: generator's whole life, so calls interleaved in one thread each keep their own.
call_deadline: contextvars.ContextVar[Optional[Tuple[float, float]]] = contextvars.ContextVar(
    "chatgpt_providers_call_deadline", default=None)
#: ``(timeout, headers)`` given for one call (the OpenAI-style ``create(timeout=,
#: extra_headers=)``), or None: a ``(connect, read)`` pair that replaces the client's
#: timeout, and headers sent to the site with each of the call's requests. Set around each
#: step of the call, like ``call_deadline``.
call_overrides: contextvars.ContextVar[
    Optional[Tuple[Optional[Tuple[float, float]], Optional[Mapping[str, str]]]]
] = contextvars.ContextVar("chatgpt_providers_call_overrides", default=None)


def normalize_timeout(timeout: Optional[Timeout]) -> Tuple[float, float]:
    """Return ``(connect, read)`` seconds from a number or a pair.

    >>> normalize_timeout(5)
    (5.0, 5.0)
    >>> normalize_timeout((3, 30))
    (3.0, 30.0)
    """
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        pair: Tuple[Any, Any] = (timeout, timeout)
    elif isinstance(timeout, (tuple, list)) and len(timeout) == 2:
        pair = (timeout[0], timeout[1])
    else:
        raise ValueError(
            f"timeout must be seconds or a (connect, read) pair, e.g. (10, 60); got {timeout!r}"
        )
    for value in pair:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"timeout values must be positive numbers of seconds; got {timeout!r}")
    return (float(pair[0]), float(pair[1]))


def time_left() -> Optional[float]:
    """Seconds left of the running call's ``total_timeout`` (None: no such limit).

    >>> time_left() is None
    True
    """
    limit = call_deadline.get()
    if limit is None:
        return None
    return limit[0] - time.monotonic()
