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
    │   ├── UnsupportedSiteError  no supported chatbot on the site (plugin missing, AI Power 2.3+)
    │   └── CrossOriginError      a page directed a request to another origin than the site's
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
from typing import Dict, Iterable, List, Optional

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
    "CrossOriginError",
    "NetworkError",
    "TimeoutError",
    "StreamInterruptedError",
    "AllProvidersFailedError",
]

#: How many characters of a response body an error keeps.
BODY_EXCERPT_CHARS = 300
#: Shortest held value (nonce, cookie) masked wherever it appears; shorter ones ("1", "yes")
#: would mask ordinary words.
MIN_SECRET_CHARS = 8
MASK = "***"

# A nonce-looking value after a key that names one: "nonce" (data-nonce, restNonce, _wpnonce,
# _ajax_nonce, X-WP-Nonce) or "token" (AI Engine's new_token; not "tokens" of usage counts).
# Between key and value: quotes, colons, equals signs, spaces and backslashes, also written
# as HTML entities (&quot; &#34; &#x22;), JSON escapes (\u0022) or percent-escapes (%22), and
# the attribute names of <input name="_wpnonce" value="..."> and <meta ... content="...">.
_NONCE_VALUE = (
    r"(?i)((?:nonce|token)(?![0-9a-z])"
    r"(?:&(?:quot|apos|#0*3[49]|#x0*2[27]);|\\u00(?:22|27)|%(?:22|27|3a|3d)|value|content|[^0-9a-z&%]){0,16})"
    r"[0-9a-f]{6,128}(?![0-9a-z])"
)
_TOKEN_CHARS = r"[0-9A-Za-z_\-]{0,256}"


def excerpt(body: object, limit: int = BODY_EXCERPT_CHARS, secrets: Iterable[str] = ()) -> str:
    """Return a short, single-spaced excerpt of ``body`` with nonce values masked.

    Masked are values after a key that names a nonce or a token, however the page escapes
    them, and every value in ``secrets`` (the nonces and cookies a client holds).

    >>> excerpt('<div data-nonce="0123456789">' + "x" * 500)[:40]
    '<div data-nonce="***">xxxxxxxxxxxxxxxxxx'
    >>> excerpt("data-system='{&quot;restNonce&quot;:&quot;a1b2c3d4e5&quot;}'")
    "data-system='{&quot;restNonce&quot;:&quot;***&quot;}'"
    >>> excerpt('{"reply": "Hi", "new_token": "f00dfeed42"}')
    '{"reply": "Hi", "new_token": "***"}'
    >>> excerpt("session=s3cr3t-cookie-value; ok", secrets=["s3cr3t-cookie-value"])
    'session=***; ok'
    """
    if body is None:
        return ""
    window = limit * 4
    cut = False
    if isinstance(body, (bytes, bytearray)):
        cut = len(body) > window * 4
        text = bytes(body[: window * 4]).decode("utf-8", "replace")
    else:
        text = str(body)
    if len(text) > window:
        # end after the word the window ends in, so no value is shown in part
        word = re.match(_TOKEN_CHARS, text[window:window + 256])
        text = text[: window + (word.end() if word else 0)]
    elif cut:  # the bytes ended inside a word: drop it
        text = text[:-256] + re.sub(_TOKEN_CHARS + "$", "", text[-256:])
    text = mask_secrets(text, secrets)
    text = " ".join(text.split())
    lowered = text.lower()
    if "nonce" in lowered or "token" in lowered:
        text = re.sub(_NONCE_VALUE, r"\1" + MASK, text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _usable_secrets(secrets: Iterable[str]) -> List[str]:
    """The values worth masking, longest first (so a value inside another goes second)."""
    found = {value for value in secrets if isinstance(value, str) and len(value) >= MIN_SECRET_CHARS}
    return sorted(found, key=len, reverse=True)


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every value of ``secrets`` (at least MIN_SECRET_CHARS long) masked.

    >>> mask_secrets("nonce 0a1b2c3d4e sent", ["0a1b2c3d4e", "no"])
    'nonce *** sent'
    """
    for value in _usable_secrets(secrets):
        if value in text:
            text = text.replace(value, MASK)
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

    def redact(self, secrets: Iterable[str]) -> ProviderError:
        """Mask ``secrets`` (values a client holds: nonces, cookies) in the message, ``url``
        and ``body``; returns the error itself. A value the body excerpt cut in two is
        masked too.

        >>> err = ResponseError("https://s/x?_ajax_nonce=0a1b2c3d4e failed", body="f00dfeed42!")
        >>> str(err.redact(["0a1b2c3d4e", "f00dfeed42"])), err.body
        ('https://s/x?_ajax_nonce=*** failed', '***!')
        """
        values = _usable_secrets(secrets)
        if not values:
            return self
        self.message = mask_secrets(self.message, values)
        self.args = (self.message,) + tuple(self.args[1:])
        if isinstance(self.url, str):
            self.url = mask_secrets(self.url, values)
        body = mask_secrets(self.body, values)
        if body.endswith("…"):
            head = body[:-1]
            for value in values:
                cut = next((k for k in range(len(value) - 1, 2, -1) if head.endswith(value[:k])), 0)
                if cut:
                    head = head[:-cut] + MASK
            body = head + "…"
        self.body = body
        return self

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


class CrossOriginError(ResponseError):
    """A page (or ``page=``) directed a request to another origin than the client's site:
    another scheme, host or port. Nothing was sent there; the message names both origins.
    Only the upgrade from ``http`` to ``https`` on the same host is followed."""


class NetworkError(ProviderError):
    """The connection could not be made, or broke before the site answered. ``phase``
    says which: ``"connect"`` (nothing was sent: no connection, DNS, TLS or proxy failure)
    or ``"exchange"`` (the request went out, so the site may have acted on it).

    >>> NetworkError("refused", phase="connect").phase, NetworkError("reset").phase
    ('connect', 'exchange')
    """

    def __init__(self, message: str, *, phase: str = "exchange", **fields) -> None:
        super().__init__(message, **fields)
        self.phase = phase


class TimeoutError(NetworkError, builtins.TimeoutError):
    """A timeout, also a built-in :class:`TimeoutError`. ``phase`` says which:
    ``"connect"``, ``"read"`` (nothing arrived for the read timeout) or ``"total"`` (the
    call's ``total_timeout`` ran out).

    >>> issubclass(TimeoutError, builtins.TimeoutError)
    True
    """

    def __init__(self, message: str, *, phase: str = "read", **fields) -> None:
        super().__init__(message, phase=phase, **fields)


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
