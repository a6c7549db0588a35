"""What went wrong on the network or in an HTTP answer, as the typed errors of
:mod:`chatgpt_providers.errors`: :func:`network_error` reads a ``requests``/``urllib3``
exception through a table (first match wins), :func:`http_error` an answer the protocol did
not expect. Each message says what was wrong and what to do, in the client's options.

Whether a failure may be retried follows from the class and ``phase`` chosen here: an
address or header that cannot be sent is a ResponseError (trying again cannot help), a
connection never made is phase ``connect`` (the message cannot have reached the site).
"""

from __future__ import annotations

import email.utils
import socket
import time
from typing import Any, Dict, Optional, Tuple, Type

import requests
import urllib3.exceptions

from .. import errors

__all__ = ["network_error", "http_error", "looks_like_cloudflare_challenge", "parse_retry_after",
           "reason"]

#: ``(exception types, error class, phase, message)``: the first row whose types match
#: ``exc`` makes the error. Subclasses come before their bases (a ConnectTimeout is a
#: Timeout and a ConnectionError; a ProxyError and an SSLError are ConnectionErrors).
#: Messages are formatted with ``url``, ``reason``, ``connect`` and ``read`` (seconds).
_NETWORK_ERRORS: Tuple[Tuple[Tuple[Type[BaseException], ...], Type[errors.ProviderError],
                             Optional[str], str], ...] = (
    ((requests.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError), errors.TimeoutError,
     "connect", "connecting to {url} took longer than {connect:g} s; check the address and "
     "your network or proxy, or raise timeout=(connect, read)"),
    ((requests.Timeout, urllib3.exceptions.ReadTimeoutError, TimeoutError), errors.TimeoutError,
     "read", "{url} sent nothing for {read:g} s; the site may be overloaded, try again or "
     "raise the read timeout with timeout=(connect, read)"),
    ((requests.exceptions.ProxyError,), errors.NetworkError, "connect",
     "the proxy refused or failed the connection to {url} ({reason}); check proxy=/proxies="),
    ((requests.exceptions.SSLError,), errors.NetworkError, "connect",
     "TLS verification failed for {url} ({reason}); pass verify= a CA bundle path if the "
     "site uses a private CA"),
    ((requests.exceptions.InvalidProxyURL,), errors.NetworkError, "connect",
     "the proxy address for {url} is not usable ({reason}); check proxy=/proxies="),
    # Not network failures: trying again cannot help, so these are not NetworkErrors.
    ((requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
      requests.exceptions.InvalidSchema), errors.ResponseError, None,
     "{url} is not a usable URL ({reason}); pass base_url='https://site.example'"),
    ((requests.exceptions.InvalidHeader,), errors.ResponseError, None,
     "could not send a request to {url}: {reason} (a header value from the site or from "
     "headers= is not valid in HTTP)"),
)


def network_error(exc: BaseException, url: str, provider: Optional[str],
                  timeout: Tuple[float, float]) -> errors.ProviderError:
    """The typed error for a failed exchange with ``url`` under ``(connect, read)`` timeout.

    >>> error = network_error(requests.ConnectTimeout("slow"), "https://s.example/", "Doc", (3, 30))
    >>> type(error).__name__, error.phase, str(error).split(";")[0]
    ('TimeoutError', 'connect', 'connecting to https://s.example/ took longer than 3 s')
    >>> error = network_error(requests.ConnectionError("refused"), "https://s.example/", "Doc", (3, 30))
    >>> type(error).__name__, error.phase
    ('NetworkError', 'exchange')
    """
    words = dict(url=url, reason=reason(exc), connect=timeout[0], read=timeout[1])
    for types, kind, phase, message in _NETWORK_ERRORS:
        if isinstance(exc, types):
            fields: Dict[str, Any] = dict(provider=provider, url=url)
            if phase is not None:
                fields["phase"] = phase
            return kind(message.format(**words), **fields)
    return errors.NetworkError(
        f"could not reach {url} ({words['reason']}); check your connection and try again",
        provider=provider, url=url,
        phase="connect" if _never_connected(exc) else "exchange",
    )


def http_error(response: requests.Response, text: str, *, what: str, provider: Optional[str],
               body: str) -> errors.ProviderError:
    """The typed error for an HTTP answer (``text``, its body; ``body``, the same with the
    client's secrets masked) to ``what`` that the protocol did not expect: a Cloudflare
    challenge is BlockedError, 429 RateLimitError (with ``retry_after``), 5xx ServerError,
    anything else ResponseError."""
    status = response.status_code
    url = response.url
    fields: Dict[str, Any] = dict(provider=provider, url=url, status_code=status, body=body)
    if looks_like_cloudflare_challenge(response, text):
        return errors.BlockedError(
            f"{url} answered {what} with a Cloudflare/WAF challenge page (HTTP {status}); "
            "this client cannot solve challenges: try later, from another network, or "
            "through proxy=",
            **fields,
        )
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        wait = f"wait {retry_after:g} s" if retry_after is not None else "wait a while"
        return errors.RateLimitError(
            f"{url} is rate limiting {what} (HTTP 429); {wait} before trying again",
            retry_after=retry_after,
            **fields,
        )
    if status >= 500:
        return errors.ServerError(
            f"{url} failed {what} with HTTP {status}; the site is having trouble, "
            "try again later",
            **fields,
        )
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    return errors.ResponseError(
        f"{url} answered {what} with an unexpected HTTP {status} ({kind}); "
        "check base_url and that the site still runs the chatbot",
        **fields,
    )


def looks_like_cloudflare_challenge(response: requests.Response, text: str) -> bool:
    """True when ``response`` is a Cloudflare (or similar WAF) challenge page.

    >>> response = requests.Response()
    >>> response.status_code = 403
    >>> looks_like_cloudflare_challenge(response, "<title>Just a moment...</title>")
    True
    """
    if response.headers.get("cf-mitigated", "").lower() == "challenge":
        return True
    if response.status_code not in (403, 429, 503):
        return False
    head = text[:4096].lower()
    return (
        "<title>just a moment" in head
        or "<title>attention required" in head
        or "cf-chl-" in head
        or "challenge-platform" in head
    )


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or None.

    >>> parse_retry_after("120")
    120.0
    >>> parse_retry_after("soon") is None
    True
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _never_connected(exc: BaseException) -> bool:
    """True when ``exc`` says no connection was made (refused, unreachable, DNS), so no
    byte of the request reached the site."""
    seen = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (urllib3.exceptions.NewConnectionError, socket.gaierror,
                                ConnectionRefusedError)):
            return True
        nxt = getattr(current, "reason", None)
        current = nxt if isinstance(nxt, BaseException) else (current.__cause__ or current.__context__)
    return False


def reason(exc: BaseException) -> str:
    """The innermost useful words of a requests/urllib3 exception.

    >>> reason(requests.ConnectionError(OSError("No route to host")))
    'No route to host'
    """
    seen = set()
    while True:
        nxt = getattr(exc, "reason", None) or exc.__cause__ or exc.__context__
        if nxt is None or id(nxt) in seen or not isinstance(nxt, BaseException):
            break
        seen.add(id(exc))
        exc = nxt
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:199] + "…"
