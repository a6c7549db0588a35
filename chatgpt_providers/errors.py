"""Every error the SDK raises on purpose, in one place.

Catch at whatever level suits you::

    ProviderError                 the base: anything a site or the network did wrong
    ├── NonceError                the nonce / page tokens could not be obtained
    ├── AuthenticationError       the site refused the nonce again after one refresh
    ├── RateLimitError            HTTP 429 or a plugin quota (``retry_after`` seconds or None)
    ├── BlockedError              Cloudflare / WAF challenge, banned IP
    ├── RejectedError             the site refused this message (empty, too long, banned words, ...)
    ├── ServerError               the site reported a failure (AI Engine ``error``, 5xx, upstream error)
    ├── ResponseError             unexpected status or content (HTML where JSON was due, ...)
    │   └── UnsupportedSiteError  no supported chatbot on the site (plugin missing, AI Power 2.3+)
    ├── NetworkError              the connection could not be made or broke before a response
    │   └── TimeoutError          connect or read timeout (also a built-in ``TimeoutError``)
    ├── StreamInterruptedError    the connection ended before the reply's end marker
    └── AllProvidersFailedError   every provider of a RetryProvider failed (``errors``)

Every error carries ``provider``, ``url``, ``status_code`` (or None), ``body`` (a short
excerpt of what the site sent, nonces masked) and ``partial_text``: all the text that was
yielded before the failure (``""`` if none), so nothing received is lost::

    >>> from chatgpt_providers import ChatGptt, ProviderError
    >>> try:                                                  # doctest: +SKIP
    ...     answer = ChatGptt().complete("Hi")
    ... except ProviderError as exc:
    ...     print(type(exc).__name__, exc, repr(exc.partial_text))

Messages say what happened and what to try; they never contain a nonce or a cookie.
"""

from __future__ import annotations

import builtins
import re
from typing import Dict, Optional

__all__ = [
    "ProviderError",
    "NonceError",
    "AuthenticationError",
    "RateLimitError",
    "BlockedError",
    "RejectedError",
    "ServerError",
    "ResponseError",
    "UnsupportedSiteError",
    "NetworkError",
    "TimeoutError",
    "StreamInterruptedError",
    "AllProvidersFailedError",
]

#: How many characters of a response body an error keeps.
BODY_EXCERPT_CHARS = 300

# A nonce-looking value next to the word "nonce" (HTML attributes, JSON keys, form fields).
_NONCE_VALUE = r"""(nonce[^0-9a-zA-Z]{0,12})[0-9a-f]{6,32}"""


def excerpt(body: object, limit: int = BODY_EXCERPT_CHARS) -> str:
    """Return a short, single-spaced excerpt of ``body`` with nonce values masked.

    >>> excerpt('<div data-nonce="0123456789">' + "x" * 500)[:40]
    '<div data-nonce="***">xxxxxxxxxxxxxxxxxx'
    """
    if body is None:
        return ""
    if isinstance(body, (bytes, bytearray)):
        text = bytes(body[: limit * 4]).decode("utf-8", "replace")
    else:
        text = str(body)[: limit * 4]
    text = " ".join(text.split())
    if "once" in text.lower():
        text = re.sub(_NONCE_VALUE, r"\1***", text, flags=re.IGNORECASE)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


class ProviderError(Exception):
    """Base class of every error raised by chatgpt_providers.

    >>> err = ProviderError("the site said no", provider="ChatGptt", status_code=500)
    >>> (str(err), err.provider, err.status_code, err.partial_text)
    ('the site said no', 'ChatGptt', 500, '')
    """

    def __init__(
        self,
        message: str,
        *,
        provider: Optional[str] = None,
        url: Optional[str] = None,
        status_code: Optional[int] = None,
        body: object = None,
        partial_text: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.url = url
        self.status_code = status_code
        self.body = excerpt(body)
        self.partial_text = partial_text

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keep the fields through pickling (multiprocessing, batches)
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls, message, state):
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class NonceError(ProviderError):
    """The nonce or the page tokens could not be obtained; the message says what was
    looked for where (``Unable to extract <what> from <url>``)."""


class AuthenticationError(ProviderError):
    """The site refused the nonce again after one refresh."""


class RateLimitError(ProviderError):
    """HTTP 429 or a plugin quota. ``retry_after`` is the wait in seconds the site asked for,
    or None when it did not say.

    >>> RateLimitError("slow down", retry_after=30.0).retry_after
    30.0
    """

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **fields) -> None:
        super().__init__(message, **fields)
        self.retry_after = retry_after


class BlockedError(ProviderError):
    """A Cloudflare / WAF challenge or a banned IP stands between you and the chatbot."""


class RejectedError(ProviderError):
    """The site refused this message: empty, too long, banned words, moderation."""


class ServerError(ProviderError):
    """The site reported a failure: AI Engine ``error`` event, AI Power upstream error, 5xx."""


class ResponseError(ProviderError):
    """An unexpected status or content, e.g. HTML where JSON was due."""


class UnsupportedSiteError(ResponseError):
    """The site runs no chatbot this client supports (plugin missing, or AI Power 2.3+)."""


class NetworkError(ProviderError):
    """The connection could not be made, or broke before the site answered."""


class TimeoutError(NetworkError, builtins.TimeoutError):
    """A timeout, also a built-in :class:`TimeoutError`. ``phase`` says which:
    ``"connect"``, ``"read"`` (nothing arrived for the read timeout) or ``"total"`` (the
    call's ``total_timeout`` ran out).

    >>> issubclass(TimeoutError, builtins.TimeoutError)
    True
    """

    def __init__(self, message: str, *, phase: str = "read", **fields) -> None:
        super().__init__(message, **fields)
        self.phase = phase


class StreamInterruptedError(ProviderError):
    """The connection ended before the reply's end marker; ``partial_text`` holds what came."""


class AllProvidersFailedError(ProviderError):
    """Every provider of a :class:`~chatgpt_providers.RetryProvider` failed before any text.

    ``errors`` maps each provider's name to its exception; the message has one short line
    per provider.

    >>> err = AllProvidersFailedError({"ChatGptt": RateLimitError("slow down")})
    >>> print(err)
    all 1 providers failed:
      ChatGptt: RateLimitError: slow down
    """

    def __init__(self, errors: Dict[str, ProviderError], **fields) -> None:
        lines = [f"all {len(errors)} providers failed:"]
        for name, exc in errors.items():
            text = " ".join(str(exc).split())
            if len(text) > 120:
                text = text[:119] + "…"
            lines.append(f"  {name}: {type(exc).__name__}: {text}")
        fields.setdefault("provider", "RetryProvider")
        super().__init__("\n".join(lines), **fields)
        self.errors = dict(errors)
