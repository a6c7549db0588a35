"""Everything that touches the network: one ``requests.Session``, timeouts, proxies,
redirect policy, streaming reads, and turning HTTP answers into typed errors.

The protocol clients never call ``requests`` themselves; they go through :class:`Transport`.
"""

from __future__ import annotations

import contextvars
import email.utils
import logging
import os
import re
import socket
import threading
import time
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union
from urllib.parse import urljoin, urlsplit

import requests
import requests.cookies
import requests.hooks
import urllib3.exceptions

from .. import errors
from .logs import guard as guard_logs

__all__ = ["Transport", "Timeout", "DEFAULT_TIMEOUT", "DEFAULT_USER_AGENT", "call_deadline",
           "call_overrides", "time_left", "origin", "keeps_credentials", "page_text"]

log = logging.getLogger("chatgpt_providers")

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
#: ``requests.Request`` arguments a caller may pass through :meth:`Transport.request`.
_REQUEST_PARTS = ("files", "data", "json", "params", "auth", "cookies", "hooks")
#: Most nonces remembered for masking (old ones still appear in old pages and logs).
_MAX_HELD = 32

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


_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Headers that carry the user's credentials: never sent to another origin on a redirect.
_CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-Authorization")


def origin(url: str) -> Tuple[str, str, Optional[int]]:
    """``(scheme, host, port)`` of a URL, default ports filled in, for same-site checks;
    ``("", "", None)`` for a URL that cannot be read.

    >>> origin("https://Site.example:8443/wp-json"), origin("http://site.example/")
    (('https', 'site.example', 8443), ('http', 'site.example', 80))
    >>> origin("http://site.example:99999/")
    ('', '', None)
    """
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port
    except ValueError:  # a bad port or IPv6 address: a URL no request can go to
        return ("", "", None)
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
    return (scheme, (parts.hostname or "").lower(), port)


def keeps_credentials(original: str, target: str) -> bool:
    """True when a request meant for ``original`` may take its nonce and credentials to
    ``target``: the same origin (scheme, host, port), or the upgrade from http on port 80
    to https on port 443 of the same host.

    >>> keeps_credentials("http://s.example/a", "https://S.example:443/b")
    True
    >>> keeps_credentials("https://s.example/", "http://s.example/")
    False
    >>> keeps_credentials("https://s.example/", "https://s.example:8443/")
    False
    """
    first, then = origin(original), origin(target)
    if not first[1] or first[0] not in _DEFAULT_PORTS or not then[1]:
        return False
    return then == first or (first == ("http", then[1], 80) and then == ("https", first[1], 443))


def _unusable(url: str) -> Optional[str]:
    """Why ``url`` cannot be requested (None when it can)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return str(exc) or "it cannot be parsed"
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        return "not an http(s) address"
    if not parts.hostname:
        return "no host"
    return None


_CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)


def page_text(response: requests.Response) -> str:
    """A page's HTML as text, in the charset its Content-Type or ``<meta>`` names, else UTF-8
    (what WordPress writes; ``requests`` would guess ISO-8859-1 for ``text/html`` without a
    charset); a leading byte-order mark is dropped, undecodable bytes are replaced.

    >>> response = requests.Response()
    >>> response._content = "<p>чат</p>".encode()
    >>> response.headers["Content-Type"] = "text/html"
    >>> page_text(response)
    '<p>чат</p>'
    """
    body = response.content or b""
    found = _CHARSET.search(response.headers.get("content-type", "").encode("latin-1", "replace"))
    if found is None:
        found = _CHARSET.search(body[:4096])
    charset = found.group(1).decode("ascii") if found else "utf-8"
    if body.startswith(b"\xef\xbb\xbf"):
        body, charset = body[3:], "utf-8"
    try:
        return body.decode(charset, "replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", "replace")


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
        site: Optional[str] = None,
        provider: Optional[str] = None,
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
        #: The site this transport serves: requests go to its origin (or its https upgrade)
        #: only, wherever a page directs them. None: any address (detection, tools).
        self.site = site
        #: The provider's name on every error this transport raises (None: the caller's).
        self.provider = provider
        # requests re-reads proxy variables and ~/.netrc from the environment on every request;
        # for sessions made here that is done once per site instead (same result, half the
        # client's CPU per request: benchmark rows 2 and 7).
        self._read_environment = self._owns_session and self.session.trust_env
        if self._read_environment:
            self.session.trust_env = False
        self._per_site: Dict[Tuple[str, str, Optional[int]], Dict[str, Any]] = {}
        #: Nonces this client was handed (most recent last), masked in every error.
        self._held: Dict[str, None] = {}
        self._held_lock = threading.Lock()
        guard_logs(self)  # and in every log record, the library's and urllib3's

    def close(self) -> None:
        """Close the session if this Transport created it (a session you passed in stays open).

        >>> Transport().close()
        """
        if self._owns_session:
            self.session.close()

    # -- secrets -------------------------------------------------------------------------

    def hold_secret(self, value: object) -> None:
        """Remember a value (a nonce) that no error or log line may show.

        >>> transport = Transport()
        >>> transport.hold_secret("0a1b2c3d4e")
        >>> "0a1b2c3d4e" in transport.held_secrets()
        True
        """
        if isinstance(value, str) and len(value) >= errors.MIN_SECRET_CHARS:
            with self._held_lock:
                self._held[value] = None
                while len(self._held) > _MAX_HELD:
                    del self._held[next(iter(self._held))]

    def held_secrets(self) -> List[str]:
        """Every value this client holds that must stay out of errors and logs: the nonces
        it was handed, its cookies, credential headers and proxy passwords.

        >>> transport = Transport(headers={"Authorization": "Bearer abcdefgh12345"})
        >>> _ = transport.session.cookies.set("wordpress_logged_in", "admin%7C1700000000%7Cabc")
        >>> sorted(transport.held_secrets())
        ['Bearer abcdefgh12345', 'abcdefgh12345', 'admin%7C1700000000%7Cabc']
        """
        with self._held_lock:
            values = set(self._held)
        for _ in range(3):  # another thread may change the jar while it is read
            try:
                values.update(value for value in self.session.cookies.values() if value)
                break
            except RuntimeError:
                continue
        for name in _CREDENTIAL_HEADERS:
            header = self.session.headers.get(name)
            if isinstance(header, bytes):
                header = header.decode("latin-1")
            if not isinstance(header, str):
                continue
            values.add(header)
            if name == "Cookie":
                values.update(part.partition("=")[2].strip() for part in header.split(";"))
            else:
                values.add(header.partition(" ")[2].strip())
        for address in list(self.proxies.values()) + list(self.session.proxies.values()):
            try:
                password = urlsplit(address).password
            except (TypeError, ValueError):
                continue
            if password:
                values.add(password)
        return [value for value in values if len(value) >= errors.MIN_SECRET_CHARS]

    def redact(self, error: errors.ProviderError) -> errors.ProviderError:
        """Mask :meth:`held_secrets` in ``error`` (message, url, body); returns it.

        >>> transport = Transport()
        >>> transport.hold_secret("0a1b2c3d4e")
        >>> str(transport.redact(errors.ResponseError("refused 0a1b2c3d4e")))
        'refused ***'
        """
        return error.redact(self.held_secrets())

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
        stream: bool = False,
        headers: Optional[Dict[str, str]] = None,
        secret_headers: Optional[Dict[str, str]] = None,
        **kwargs,
    ) -> requests.Response:
        """Send one request and return the response (body not yet read when ``stream``).

        Redirects are followed by hand. ``secret_headers`` (the nonce) go only to the
        origin the request was meant for (scheme, host and port) or its upgrade from http
        to https on the same host; the ``Authorization``, ``Cookie`` and
        ``Proxy-Authorization`` headers (yours, the session's, and cookies from its jar)
        are dropped on every hop elsewhere. A request other than GET is re-sent only
        within that origin; a redirect elsewhere raises ResponseError. Network failures
        become :class:`~chatgpt_providers.errors.NetworkError` or
        :class:`~chatgpt_providers.errors.TimeoutError`; an address that cannot be
        requested, or a header value HTTP cannot carry, ResponseError.

        >>> from chatgpt_providers.testing import LocalSite
        >>> with LocalSite() as site:
        ...     Transport().request("GET", site.url).status_code
        200
        """
        if secret_headers:
            for value in secret_headers.values():
                self.hold_secret(value)
        self._check_address(url, url, None)
        if self.site is not None and not keeps_credentials(self.site, url):
            raise _cross_origin(self.site, url, self.provider)
        target = url
        overrides = call_overrides.get()
        call_headers = overrides[1] if overrides else None
        for _ in range(_MAX_REDIRECTS + 1):
            trusted = keeps_credentials(url, target)
            send_headers = dict(headers or {})
            if trusted:  # the per-call headers and the nonce: only where the call was meant
                if call_headers:
                    send_headers.update(call_headers)
                if secret_headers:
                    send_headers.update(secret_headers)
            log.debug("%s %s", method, target)
            response = self._send(method, target, send_headers, trusted, kwargs)
            location = self.session.get_redirect_target(response)
            if response.status_code not in _REDIRECTS or location is None:
                if not stream:
                    self.read_body(response)
                return response
            self.end_stream(response)  # a redirect's body: what has arrived, never waited for
            try:
                location = urljoin(target, location)
            except ValueError:
                location = str(location)
            self._check_address(location, target, response.status_code)
            if method.upper() != "GET" and not keeps_credentials(url, location):
                raise errors.ResponseError(
                    f"{target} redirected a {method} to another site ({location}); "
                    "pass base_url= with the site's real address",
                    provider=self.provider,
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
            provider=self.provider,
            url=url,
        )

    def _check_address(self, url: str, source: str, status: Optional[int]) -> None:
        """Raise ResponseError when ``url`` (given, or a redirect from ``source``) cannot be
        requested: a site's page or redirect named a bad address."""
        problem = _unusable(url)
        if problem is None:
            return
        where = f"{source} redirected to" if status is not None else "the address"
        raise errors.ResponseError(
            f"{where} {url!r}, which cannot be requested ({problem}); check base_url= and "
            "that the site is set up correctly",
            provider=self.provider, url=source, status_code=status,
        )

    def _send(self, method: str, url: str, headers: Dict[str, str], trusted: bool,
              options: Dict[str, Any]) -> requests.Response:
        """One hop, as ``Session.request`` sends it (session headers, cookies, auth), minus the
        credential headers when ``url`` is not the origin the request was meant for."""
        settings = dict(self._site_settings(url))
        settings.update(options)
        build = {name: settings.pop(name) for name in _REQUEST_PARTS if name in settings}
        try:
            prepared = self.session.prepare_request(requests.Request(method.upper(), url, headers, **build))
            if not trusted:
                for name in _CREDENTIAL_HEADERS:
                    prepared.headers.pop(name, None)
                # as requests does on a redirect: the new host's own .netrc entry, if any
                auth = self._site_settings(url).get("auth") or (
                    self.session.trust_env and requests.utils.get_netrc_auth(url))
                if auth:
                    prepared.prepare_auth(auth)
            send: Dict[str, Any] = dict(self.session.merge_environment_settings(
                prepared.url or url, settings.pop("proxies", None) or {}, True, settings.pop("verify", None),
                settings.pop("cert", None)))
            send["timeout"] = self._timeout_now(url)
            # Session.send, less its redirect handling: even with allow_redirects=False it
            # reads a redirect's whole body (unbounded) and parses its Location.
            response = self.session.get_adapter(prepared.url or url).send(prepared, **send, **settings)
            response = requests.hooks.dispatch_hook("response", prepared.hooks, response, **send)
            requests.cookies.extract_cookies_to_jar(self.session.cookies, prepared, response.raw)
            return response
        except requests.RequestException as exc:
            raise self._network_error(exc, url) from exc
        except (ValueError, UnicodeError) as exc:  # http.client refusing a header value
            raise errors.ResponseError(
                f"could not send a request to {url}: {_reason(exc)} (a header or the address "
                "holds characters HTTP cannot carry)",
                provider=self.provider, url=url,
            ) from exc

    def _timeout_now(self, url: str) -> Tuple[float, float]:
        """The (connect, read) timeout, shortened to what is left of the call's total_timeout."""
        timeout = self.call_timeout()
        left = time_left()
        if left is None:
            return timeout
        if left <= 0:
            raise self._total_timeout_error(url)
        return (min(timeout[0], left), min(timeout[1], left))

    def call_timeout(self) -> Tuple[float, float]:
        """The (connect, read) timeout of the call running now: the one given for this call
        (``call_overrides``), else the client's.

        >>> Transport(timeout=(3, 30)).call_timeout()
        (3.0, 30.0)
        """
        overrides = call_overrides.get()
        return overrides[0] if overrides and overrides[0] else self.timeout

    def _total_timeout_error(self, url: str) -> errors.TimeoutError:
        limit = call_deadline.get()
        total = limit[1] if limit else 0.0
        return errors.TimeoutError(
            f"the call took longer than total_timeout={total:g} s (waiting on {url}); raise "
            "total_timeout= or try again",
            provider=self.provider, url=url, phase="total",
        )

    def _network_error(self, exc: BaseException, url: str) -> errors.ProviderError:
        connect, read = self.call_timeout()
        left = time_left()
        if left is not None and left <= 0.001 and isinstance(
                exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
            return self._total_timeout_error(url)
        if isinstance(exc, (requests.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError)):
            return errors.TimeoutError(
                f"connecting to {url} took longer than {connect:g} s; check the address and "
                "your network or proxy, or raise timeout=(connect, read)",
                provider=self.provider,
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
                provider=self.provider,
                url=url,
                phase="read",
            )
        if isinstance(exc, requests.exceptions.ProxyError):
            return errors.NetworkError(
                f"the proxy refused or failed the connection to {url} ({_reason(exc)}); "
                "check proxy=/proxies=",
                provider=self.provider,
                url=url,
                phase="connect",
            )
        if isinstance(exc, requests.exceptions.SSLError):
            return errors.NetworkError(
                f"TLS verification failed for {url} ({_reason(exc)}); pass verify= a CA bundle "
                "path if the site uses a private CA",
                provider=self.provider,
                url=url,
                phase="connect",
            )
        if isinstance(exc, requests.exceptions.InvalidProxyURL):
            return errors.NetworkError(
                f"the proxy address for {url} is not usable ({_reason(exc)}); check proxy=/proxies=",
                provider=self.provider,
                url=url,
                phase="connect",
            )
        # Not network failures: trying again cannot help, so these are not NetworkErrors.
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                            requests.exceptions.InvalidSchema)):
            return errors.ResponseError(
                f"{url} is not a usable URL ({_reason(exc)}); pass base_url='https://site.example'",
                provider=self.provider,
                url=url,
            )
        if isinstance(exc, requests.exceptions.InvalidHeader):
            return errors.ResponseError(
                f"could not send a request to {url}: {_reason(exc)} (a header value from the site "
                "or from headers= is not valid in HTTP)",
                provider=self.provider,
                url=url,
            )
        return errors.NetworkError(
            f"could not reach {url} ({_reason(exc)}); check your connection and try again",
            provider=self.provider,
            url=url,
            phase="connect" if _never_connected(exc) else "exchange",
        )

    # -- bodies --------------------------------------------------------------------------

    def iter_bytes(self, response: requests.Response) -> Iterator[bytes]:
        """Yield a streamed body piece by piece, each as soon as it arrives.

        ``requests``' ``iter_content`` waits to fill its chunk size on bodies that end when
        the connection closes; ``read1`` returns whatever the socket has, for chunked and
        close-delimited bodies alike. A broken connection raises
        :class:`~chatgpt_providers.errors.StreamInterruptedError`; a silent one, after the
        read timeout, :class:`~chatgpt_providers.errors.TimeoutError`.

        >>> from chatgpt_providers.testing import LocalSite
        >>> with LocalSite() as site:
        ...     transport = Transport()
        ...     page = transport.request("GET", site.url, stream=True)
        ...     b"".join(transport.iter_bytes(page)).startswith(b"<!DOCTYPE")
        True
        """
        raw = response.raw
        url = response.url
        try:
            while True:
                if call_deadline.get() is not None:
                    self._shorten_read_timeout(raw, url)
                data = raw.read1(READ_SIZE, decode_content=True)
                if not data:
                    return
                yield data
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError) as exc:
            raise self._network_error(exc, url) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise errors.ResponseError(
                f"{url} sent a body that could not be decompressed ({_reason(exc)})",
                provider=self.provider,
                url=url,
                status_code=response.status_code,
            ) from exc
        except (urllib3.exceptions.ProtocolError, ValueError) as exc:
            # http.client reading a chunked body that stops short: "invalid literal for int()"
            raise errors.StreamInterruptedError(
                f"the connection to {url} was closed before the reply ended; try again",
                provider=self.provider,
                url=url,
                status_code=response.status_code,
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.StreamInterruptedError(
                f"the connection to {url} broke while the answer was arriving ({_reason(exc)}); "
                "try again",
                provider=self.provider,
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
        ...     page = transport.request("GET", site.url, stream=True)
        ...     transport.end_stream(page)
        """
        raw = response.raw
        sock = _socket_of(raw)
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

    def _shorten_read_timeout(self, raw, url: str) -> None:
        left = time_left()
        if left is None:
            return
        if left <= 0:
            raise self._total_timeout_error(url)
        sock = _socket_of(raw)
        if sock is not None:
            sock.settimeout(min(self.call_timeout()[1], left))  # the next request resets it

    def read_body(self, response: requests.Response, *,
                  limit: Optional[int] = None) -> bytes:
        """Read a whole body, at most ``limit`` bytes (default ``max_body_bytes``), and keep
        it as ``response._content`` so ``response.text``/``.json()`` work.

        >>> from chatgpt_providers.testing import LocalSite
        >>> with LocalSite() as site:
        ...     transport = Transport()
        ...     page = transport.request("GET", site.url, stream=True)
        ...     transport.read_body(page, limit=100)
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
            for data in self.iter_bytes(response):
                size += len(data)
                if size > limit:
                    raise errors.ResponseError(
                        f"{response.url} sent more than {limit} bytes where a page or a JSON "
                        "answer was expected; is this the right address?",
                        provider=self.provider,
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

    def http_error(self, response: requests.Response, *,
                   what: str = "the request") -> errors.ProviderError:
        """The typed error for an HTTP answer the protocol client did not expect.

        Cloudflare challenges become BlockedError, 429 RateLimitError (with
        ``retry_after``), 5xx ServerError, anything else ResponseError.

        >>> from chatgpt_providers.testing import LocalSite
        >>> with LocalSite() as site:
        ...     site.inject("rate_limit", target="page", retry_after=9)
        ...     transport = Transport()
        ...     error = transport.http_error(transport.request("GET", site.url))
        >>> type(error).__name__, error.retry_after
        ('RateLimitError', 9.0)
        """
        text = self.read_body(response).decode("utf-8", "replace")
        status = response.status_code
        url = response.url
        fields: Dict[str, Any] = dict(provider=self.provider, url=url, status_code=status,
                                      body=errors.mask_secrets(text, self.held_secrets()))
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


def _socket_of(raw: Any) -> Optional[socket.socket]:
    """The socket a streamed body is read from, whatever its framing. A body that ends when
    the connection closes has been let go by its connection (``raw.connection.sock`` is
    None); http.client's reader still holds the socket, and its timeout is what bounds the
    next read."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:
        reader = getattr(getattr(raw, "_fp", None), "fp", None)  # http.client's buffered reader
        sock = getattr(getattr(reader, "raw", None), "_sock", None)  # its socket.SocketIO
    return sock if isinstance(sock, socket.socket) else None


def _cross_origin(site: str, url: str, provider: Optional[str]) -> errors.CrossOriginError:
    """The error for a request a page directed elsewhere than the client's site."""
    ours, theirs = _origin_text(site), _origin_text(url)
    return errors.CrossOriginError(
        f"refused to send a request to {theirs}: the client talks to {ours} only, and a page "
        f"(or page=) directed it to another origin (scheme, host and port must match, or be the "
        f"https upgrade of the same host); if the chatbot really lives on {theirs}, pass "
        f"base_url='{theirs}'",
        provider=provider, url=url.split("?", 1)[0],
    )


def _origin_text(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, the port shown only when it is not the default.

    >>> _origin_text("https://Site.example:443/wp-json"), _origin_text("http://s.example:8080/a?b")
    ('https://site.example', 'http://s.example:8080')
    """
    scheme, host, port = origin(url)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if port == _DEFAULT_PORTS.get(scheme) else f":{port}")


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
