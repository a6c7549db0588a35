"""The API's answers to failures, in OpenAI's error JSON and statuses: :class:`APIError`, and
:func:`error_for` mapping a provider error to the status an OpenAI client expects.

Constraint: the official ``openai`` client retries 408/409/429/5xx unless the answer says
``x-should-retry: false``. Every retry through this endpoint is a message sent to a site, so
an answer whose retry would not help (the providers already retried, a used-up quota) says so.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ... import errors

__all__ = ["APIError", "error_for", "bad_request"]




class APIError(Exception):
    """An answer in OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``.

    >>> err = APIError(404, "no such model", code="model_not_found")
    >>> err.status, err.body()["error"]["code"]
    (404, 'model_not_found')
    """

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",  # noqa: A002
                 param: Optional[str] = None, code: Optional[str] = None,
                 headers: Sequence[Tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = list(headers)

    def body(self) -> Dict[str, Any]:
        """The JSON body (see the class example)."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


def _snake(name: str) -> str:
    out = []
    for index, char in enumerate(name):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def error_for(exc: errors.ProviderError) -> APIError:
    """The HTTP answer for a provider error: 429 rate limit, 504 timeout, 400 a message the
    site refused, 502 anything else the site did wrong. ``code`` names the SDK's error.

    >>> err = error_for(errors.RateLimitError("slow down", retry_after=2.5, provider="ChatGptt"))
    >>> err.status, err.headers, err.code
    (429, [('Retry-After', '3')], 'rate_limit_error')
    >>> error_for(errors.TimeoutError("no answer in 60 s")).status
    504
    >>> error_for(errors.RateLimitError("quota used up", status_code=200)).headers
    [('x-should-retry', 'false')]
    """
    message = f"{exc.provider}: {exc}" if exc.provider else str(exc)
    code = _snake(type(exc).__name__)
    if isinstance(exc, errors.AllProvidersFailedError) and exc.errors:
        kinds = list(exc.errors.values())
        if all(isinstance(e, errors.RateLimitError) for e in kinds):
            waits = [e.retry_after for e in kinds if isinstance(e, errors.RateLimitError)]
            known = [w for w in waits if w is not None]
            return _rate_limited(message, code, min(known) if len(known) == len(waits) else None,
                                 spent=all(_quota_spent(e) for e in kinds))
        if all(isinstance(e, errors.TimeoutError) for e in kinds):
            return APIError(504, message, type="timeout_error", code=code, headers=_NO_RETRY)
    if isinstance(exc, errors.RateLimitError):
        return _rate_limited(message, code, exc.retry_after, spent=_quota_spent(exc))
    if isinstance(exc, errors.TimeoutError):
        return APIError(504, message, type="timeout_error", code=code, headers=_NO_RETRY)
    if isinstance(exc, errors.RejectedError):
        return APIError(400, message, param="messages", code=code)
    return APIError(502, message, type="server_error", code=code, headers=_NO_RETRY)


#: The providers already retried what was worth retrying (their ``retries=``), so the official
#: client is asked not to multiply the attempts on a 502/504 (it honours ``x-should-retry``).
_NO_RETRY = (("x-should-retry", "false"),)


def _quota_spent(exc: errors.ProviderError) -> bool:
    """A plugin's used-up quota (AI Power's ``tokenLimitReached``, 2.3+'s ``quota_notice``):
    a rate limit the site reported inside a normal answer, naming no wait. Only an HTTP 429
    or a named wait is a transient limit that a retry may get past."""
    return (isinstance(exc, errors.RateLimitError) and exc.status_code != 429
            and exc.retry_after is None)


def _rate_limited(message: str, code: str, retry_after: Optional[float], *,
                  spent: bool) -> APIError:
    headers: List[Tuple[str, str]] = []
    if spent:  # retrying would send the message again to a site that will refuse it again
        headers.extend(_NO_RETRY)
    elif retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
        headers.append(("Retry-After", str(max(1, math.ceil(retry_after)))))
    return APIError(429, message, type="rate_limit_error", code=code, headers=headers)


def bad_request(message: str, param: Optional[str] = None, code: str = "invalid_value") -> APIError:
    """A 400 ``invalid_request_error``: a mistake of the caller, never retried by SDKs.

    >>> bad_request("n must be 1", "n").status
    400
    """
    return APIError(400, message, param=param, code=code)
