"""Everything that touches the network: one ``requests.Session``, timeouts, proxies,
redirect policy, streaming reads, and turning HTTP answers into typed errors.

The protocol clients never call ``requests`` themselves; they go through :class:`Transport`.
"""

from __future__ import annotations

import contextvars
import email.utils
import logging
import os
import time
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

from .. import errors

__all__ = ["Transport", "Timeout", "DEFAULT_TIMEOUT", "DEFAULT_USER_AGENT", "call_deadline",
           "call_overrides", "time_left"]

log = logging.getLogger(__name__)

Timeout = Union[float, Tuple[float, float]]
#: ``(connect, read)`` seconds. The read timeout bounds the gap between two reads of a stream.
DEFAULT_TIMEOUT: Tuple[float, float] = (10.0, 60.0)
#: Sites sit behind WAFs that turn away obvious bots; present a current desktop browser.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
#: Bytes asked for per read of a streamed body; a read returns whatever has arrived.
READ_SIZE = 65536
#: Most bytes read from a non-streamed body (a page, a JSON answer).
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 5

#: ``(deadline, total seconds)`` of the call whose code is running, or None. Set around each
#: step of a call's generator (see ``ChatProvider._guarded``), so interleaved calls in one
#: thread each keep their own.
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


def origin(url: str) -> Tuple[str, str, Optional[int]]:
    """``(scheme, host, port)`` of a URL, for same-site checks.

    >>> origin("https://Site.example:8443/wp-json")
    ('https', 'site.example', 8443)
    """
    parts = urlsplit(url)
    return (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)


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


class Transport:
    """One client's ``requests.Session`` with its timeouts, proxies and headers.

    >>> t = Transport(timeout=(3, 30), proxy="http://127.0.0.1:3128")
    >>> t.timeout, t.session.proxies["https"]
    ((3.0, 30.0), 'http://127.0.0.1:3128')

    A ``Session`` pools connections and keeps cookies; sharing it between threads is
    how ``requests`` is used in practice (its connection pool and cookie jar lock), so one
    Transport serves all the threads that share one client.
    """

    def __init__(
        self,
        *,
        proxy: Optional[str] = None,
        proxies: Optional[Mapping[str, str]] = None,
        timeout: Optional[Timeout] = DEFAULT_TIMEOUT,
        headers: Optional[Mapping[str, str]] = None,
        verify: Union[bool, str] = True,
        session: Optional[requests.Session] = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if proxy is not None and proxies is not None:
            raise ValueError("pass either proxy= (one URL for all schemes) or proxies= (a dict), not both")
        if proxy is not None and not isinstance(proxy, str):
            raise ValueError(f"proxy must be a URL string like 'http://host:3128'; got {proxy!r}")
        self.timeout = normalize_timeout(timeout)
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        if session is None:
            self.session.headers["User-Agent"] = DEFAULT_USER_AGENT
            self.session.headers["Accept-Language"] = "en-US,en;q=0.9"
        if headers:
            self.session.headers.update(headers)
        #: The proxies you gave; sent with every request, so they win over the environment's.
        self.proxies: Dict[str, str] = {}
        if proxy is not None:
            self.proxies = {"http": proxy, "https": proxy}
        elif proxies is not None:
            self.proxies = dict(proxies)
        self.session.proxies.update(self.proxies)
        if verify is not True:
            self.session.verify = verify
        self.max_body_bytes = max_body_bytes
        # requests re-reads proxy variables and ~/.netrc from the environment on every request;
        # for sessions made here that is done once per site instead (same result, half the
        # client's CPU per request: benchmark rows 2 and 7).
        self._read_environment = self._owns_session and self.session.trust_env
        if self._read_environment:
            self.session.trust_env = False
        self._per_site: Dict[Tuple[str, str, Optional[int]], Dict[str, Any]] = {}

    def close(self) -> None:
        """Close the session if this Transport created it (a session you passed in stays open).

        >>> Transport().close()
        """
        if self._owns_session:
            self.session.close()

    # -- requests ------------------------------------------------------------------------

    def _site_settings(self, url: str) -> Dict[str, Any]:
        """Per-request settings for ``url``'s site: our proxies, plus what requests would read
        from the environment (proxy variables honouring NO_PROXY, CA bundle, .netrc)."""
        key = origin(url)
        settings = self._per_site.get(key)
        if settings is None:
            settings = {"proxies": dict(self.proxies)}
            if self._read_environment:
                env = requests.utils.get_environ_proxies(url, no_proxy=self.proxies.get("no_proxy"))
                for scheme, address in env.items():
                    settings["proxies"].setdefault(scheme, address)
                bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                if bundle and self.session.verify is True:
                    settings["verify"] = bundle
                auth = requests.utils.get_netrc_auth(url)
                if auth:
                    settings["auth"] = auth
            self._per_site[key] = settings
        return settings

    def request(
        self,
        method: str,
        url: str,
        *,
        provider: str,
        stream: bool = False,
        headers: Optional[Dict[str, str]] = None,
        secret_headers: Optional[Dict[str, str]] = None,
        **kwargs,
    ) -> requests.Response:
        """Send one request and return the response (body not yet read when ``stream``).

        Redirects are followed by hand: ``secret_headers`` (the nonce) go only to the
        origin the request was meant for, and a POST is re-sent as a POST only within
        that site (scheme upgrades included); a redirect elsewhere raises ResponseError.
        Network failures become :class:`~chatgpt_providers.errors.NetworkError` or
        :class:`~chatgpt_providers.errors.TimeoutError`.

        >>> from chatgpt_providers.testing import LocalSite
        >>> with LocalSite() as site:
        ...     Transport().request("GET", site.url, provider="doc").status_code
        200
        """
        target = url
        first_host = origin(url)[1]
        overrides = call_overrides.get()
        call_headers = overrides[1] if overrides else None
        for _ in range(_MAX_REDIRECTS + 1):
            send_headers = dict(headers or {})
            if origin(target)[1] == first_host:
                if call_headers:
                    send_headers.update(call_headers)
                if secret_headers:
                    send_headers.update(secret_headers)
            log.debug("%s %s", method, target)
            try:
                response = self.session.request(
                    method,
                    target,
                    headers=send_headers,
                    timeout=self._timeout_now(provider, target),
                    stream=True,
                    allow_redirects=False,
                    **self._site_settings(target),
                    **kwargs,
                )
            except requests.RequestException as exc:
                raise self._network_error(exc, provider, target) from exc
            if response.status_code not in _REDIRECTS or "location" not in response.headers:
                if not stream:
                    self.read_body(response, provider=provider)
                return response
            location = urljoin(target, response.headers["location"])
            response.close()
            if method.upper() != "GET" and origin(location)[1] != first_host:
                raise errors.ResponseError(
                    f"{target} redirected a {method} to another site ({location}); "
                    "pass base_url= with the site's real address",
                    provider=provider,
                    url=target,
                    status_code=response.status_code,
                )
            if response.status_code == 303:
                method = "GET"
                kwargs.pop("data", None)
                kwargs.pop("json", None)
            target = location
        raise errors.ResponseError(
            f"{url} redirected more than {_MAX_REDIRECTS} times; pass base_url= with the "
            "site's real address",
            provider=provider,
            url=url,
        )

    def _timeout_now(self, provider: str, url: str) -> Tuple[float, float]:
        """The (connect, read) timeout, shortened to what is left of the call's total_timeout."""
        timeout = self.call_timeout()
        left = time_left()
        if left is None:
            return timeout
        if left <= 0:
            raise self._total_timeout_error(provider, url)
        return (min(timeout[0], left), min(timeout[1], left))

    def call_timeout(self) -> Tuple[float, float]:
        """The (connect, read) timeout of the call running now: the one given for this call
        (``call_overrides``), else the client's.

        >>> Transport(timeout=(3, 30)).call_timeout()
        (3.0, 30.0)
        """
        overrides = call_overrides.get()
        return overrides[0] if overrides and overrides[0] else self.timeout

    def _total_timeout_error(self, provider: str, url: str) -> errors.TimeoutError:
        limit = call_deadline.get()
        total = limit[1] if limit else 0.0
        return errors.TimeoutError(
            f"the call took longer than total_timeout={total:g} s (waiting on {url}); raise "
            "total_timeout= or try again",
            provider=provider, url=url, phase="total",
        )

    def _network_error(self, exc: BaseException, provider: str, url: str) -> errors.ProviderError:
        connect, read = self.call_timeout()
        left = time_left()
        if left is not None and left <= 0.001 and isinstance(
                exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
            return self._total_timeout_error(provider, url)
        if isinstance(exc, (requests.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError)):
            return errors.TimeoutError(
                f"connecting to {url} took longer than {connect:g} s; check the address and "
                "your network or proxy, or raise timeout=(connect, read)",
                provider=provider,
                url=url,
                phase="connect",
            )
        if isinstance(
            exc,
            (requests.Timeout, urllib3.exceptions.ReadTimeoutError, TimeoutError),
        ):
            return errors.TimeoutError(
                f"{url} sent nothing for {read:g} s; the site may be overloaded, try again "
                "or raise the read timeout with timeout=(connect, read)",
                provider=provider,
                url=url,
                phase="read",
            )
        if isinstance(exc, requests.exceptions.ProxyError):
            return errors.NetworkError(
                f"the proxy refused or failed the connection to {url} ({_reason(exc)}); "
                "check proxy=/proxies=",
                provider=provider,
                url=url,
            )
        if isinstance(exc, requests.exceptions.SSLError):
            return errors.NetworkError(
                f"TLS verification failed for {url} ({_reason(exc)}); pass verify= a CA bundle "
                "path if the site uses a private CA",
                provider=provider,
                url=url,
            )
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                            requests.exceptions.InvalidSchema)):
            return errors.NetworkError(
                f"{url} is not a usable URL ({_reason(exc)}); pass base_url='https://site.example'",
                provider=provider,
                url=url,
            )
        return errors.NetworkError(
            f"could not reach {url} ({_reason(exc)}); check your connection and try again",
            provider=provider,
            url=url,
        )

    # -- bodies --------------------------------------------------------------------------

    def iter_bytes(self, response: requests.Response, *, provider: str) -> Iterator[bytes]:
        """Yield a streamed body piece by piece, each as soon as it arrives.

        ``requests``' ``iter_content`` waits to fill its chunk size on bodies that end when
        the connection closes; ``read1`` returns whatever the socket has, for chunked and
        close-delimited bodies alike. A broken connection raises
        :class:`~chatgpt_providers.errors.StreamInterruptedError`; a silent one, after the
        read timeout, :class:`~chatgpt_providers.errors.TimeoutError`.

        >>> from chatgpt_providers.testing import LocalSite
        >>> with LocalSite() as site:
        ...     transport = Transport()
        ...     page = transport.request("GET", site.url, provider="doc", stream=True)
        ...     b"".join(transport.iter_bytes(page, provider="doc")).startswith(b"<!DOCTYPE")
        True
        """
        raw = response.raw
        url = response.url
        try:
            while True:
                if call_deadline.get() is not None:
                    self._shorten_read_timeout(raw, provider, url)
                data = raw.read1(READ_SIZE, decode_content=True)
                if not data:
                    return
                yield data
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError) as exc:
            raise self._network_error(exc, provider, url) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise errors.ResponseError(
                f"{url} sent a body that could not be decompressed ({_reason(exc)})",
                provider=provider,
                url=url,
                status_code=response.status_code,
            ) from exc
        except (urllib3.exceptions.ProtocolError, ValueError) as exc:
            # http.client reading a chunked body that stops short: "invalid literal for int()"
            raise errors.StreamInterruptedError(
                f"the connection to {url} was closed before the reply ended; try again",
                provider=provider,
                url=url,
                status_code=response.status_code,
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.StreamInterruptedError(
                f"the connection to {url} broke while the answer was arriving ({_reason(exc)}); "
                "try again",
                provider=provider,
                url=url,
                status_code=response.status_code,
            ) from exc

    def end_stream(self, response: requests.Response) -> None:
        """End a streamed answer at its end marker without waiting for the server.

        What the server already sent after the marker (the end of the chunked body) is read
        without waiting, so a complete body returns its connection to the pool; when more is
        still to come (a server that keeps the stream open, a close-delimited body), the
        connection is closed instead of being waited on.

        >>> from chatgpt_providers.testing import LocalSite
        >>> with LocalSite() as site:
        ...     transport = Transport()
        ...     page = transport.request("GET", site.url, provider="doc", stream=True)
        ...     transport.end_stream(page)
        """
        raw = response.raw
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        try:
            if sock is None:
                return
            previous = sock.gettimeout()
            sock.settimeout(0.0)  # never wait here: what has not arrived is not waited for
            try:
                for _ in range(16):
                    data = raw.read1(READ_SIZE, decode_content=True)
                    if data == b"":
                        return  # the body is complete: urllib3 has pooled the connection
                    if data is None:
                        break
            finally:
                sock.settimeout(previous)
            raw.close()  # more is on its way: drop this connection rather than wait for it
        except Exception:  # noqa: BLE001 - anything half-read means the connection goes
            raw.close()
        finally:
            response.close()

    def _shorten_read_timeout(self, raw, provider: str, url: str) -> None:
        left = time_left()
        if left is None:
            return
        if left <= 0:
            raise self._total_timeout_error(provider, url)
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        if sock is not None:
            sock.settimeout(min(self.call_timeout()[1], left))  # the next request resets it

    def read_body(self, response: requests.Response, *, provider: str,
                  limit: Optional[int] = None) -> bytes:
        """Read a whole body, at most ``limit`` bytes (default ``max_body_bytes``), and keep
        it as ``response._content`` so ``response.text``/``.json()`` work.

        >>> from chatgpt_providers.testing import LocalSite
        >>> with LocalSite() as site:
        ...     transport = Transport()
        ...     page = transport.request("GET", site.url, provider="doc", stream=True)
        ...     transport.read_body(page, provider="doc", limit=100)
        Traceback (most recent call last):
        ...
        chatgpt_providers.errors.ResponseError: ... sent more than 100 bytes ...
        """
        if response._content_consumed:  # type: ignore[attr-defined]
            return response.content
        limit = self.max_body_bytes if limit is None else limit
        parts: List[bytes] = []
        size = 0
        try:
            for data in self.iter_bytes(response, provider=provider):
                size += len(data)
                if size > limit:
                    raise errors.ResponseError(
                        f"{response.url} sent more than {limit} bytes where a page or a JSON "
                        "answer was expected; is this the right address?",
                        provider=provider,
                        url=response.url,
                        status_code=response.status_code,
                        body=b"".join(parts),
                    )
                parts.append(data)
        finally:
            response.close()
        body = b"".join(parts)
        response._content = body  # type: ignore[attr-defined]
        response._content_consumed = True  # type: ignore[attr-defined]
        return body

    # -- errors --------------------------------------------------------------------------

    def http_error(self, response: requests.Response, *, provider: str,
                   what: str = "the request") -> errors.ProviderError:
        """The typed error for an HTTP answer the protocol client did not expect.

        Cloudflare challenges become BlockedError, 429 RateLimitError (with
        ``retry_after``), 5xx ServerError, anything else ResponseError.

        >>> from chatgpt_providers.testing import LocalSite
        >>> with LocalSite() as site:
        ...     site.inject("rate_limit", target="page", retry_after=9)
        ...     transport = Transport()
        ...     error = transport.http_error(transport.request("GET", site.url, provider="doc"),
        ...                                  provider="doc")
        >>> type(error).__name__, error.retry_after
        ('RateLimitError', 9.0)
        """
        text = self.read_body(response, provider=provider).decode("utf-8", "replace")
        status = response.status_code
        url = response.url
        fields: Dict[str, Any] = dict(provider=provider, url=url, status_code=status, body=text)
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


def time_left() -> Optional[float]:
    """Seconds left of the running call's ``total_timeout`` (None: no such limit).

    >>> time_left() is None
    True
    """
    limit = call_deadline.get()
    if limit is None:
        return None
    return limit[0] - time.monotonic()


def _reason(exc: BaseException) -> str:
    """The innermost useful words of a requests/urllib3 exception."""
    seen = set()
    while True:
        nxt = getattr(exc, "reason", None) or exc.__cause__ or exc.__context__
        if nxt is None or id(nxt) in seen or not isinstance(nxt, BaseException):
            break
        seen.add(id(exc))
        exc = nxt
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:199] + "…"
