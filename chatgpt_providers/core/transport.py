"""One client's HTTP: a ``requests.Session`` with its timeouts, proxies and headers, the
requests it sends (redirects followed by the rules of :mod:`.redirects`), and the bodies it
reads (streamed as they arrive, capped, ended at a marker without waiting).

The protocols never call ``requests`` themselves; they go through :class:`Transport`, which
names the provider on every error it raises. What a failure becomes is :mod:`.http_errors`';
what must never be shown, :mod:`.redaction`'s.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union
from urllib.parse import urljoin

import requests
import requests.cookies
import requests.hooks
import urllib3.exceptions

from .. import errors
from .http_errors import http_error, network_error, reason
from .redaction import HeldSecrets
from .redaction import guard as guard_logs
from .redirects import (
    CREDENTIAL_HEADERS,
    MAX_REDIRECTS,
    REDIRECTS,
    address_error,
    cross_origin_error,
    keeps_credentials,
    origin,
    redirected_elsewhere_error,
    too_many_redirects_error,
)
from .timeouts import DEFAULT_TIMEOUT, Timeout, call_deadline, call_overrides, normalize_timeout, time_left

__all__ = ["Transport", "DEFAULT_USER_AGENT", "DEFAULT_MAX_BODY_BYTES"]

log = logging.getLogger("chatgpt_providers")

#: Sites sit behind WAFs that turn away obvious bots; present a current desktop browser.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
#: Bytes asked for per read of a streamed body; a read returns whatever has arrived.
READ_SIZE = 65536
#: Most bytes read from a non-streamed body (a page, a JSON answer).
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
#: ``requests.Request`` arguments a caller may pass through :meth:`Transport.request`.
_REQUEST_PARTS = ("files", "data", "json", "params", "auth", "cookies", "hooks")

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
        #: What this client must never show, masked in every error.
        self.secrets = HeldSecrets(self.session, self.proxies)
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
        self.secrets.hold(value)

    def held_secrets(self) -> List[str]:
        """Every value this client holds that must stay out of errors and logs: the nonces
        it was handed, its cookies, credential headers and proxy passwords.

        >>> transport = Transport(headers={"Authorization": "Bearer abcdefgh12345"})
        >>> _ = transport.session.cookies.set("wordpress_logged_in", "admin%7C1700000000%7Cabc")
        >>> sorted(transport.held_secrets())
        ['Bearer abcdefgh12345', 'abcdefgh12345', 'admin%7C1700000000%7Cabc']
        """
        return self.secrets.values()

    def redact(self, error: errors.ProviderError) -> errors.ProviderError:
        """Mask :meth:`held_secrets` in ``error`` (message, url, body); returns it.

        >>> transport = Transport()
        >>> transport.hold_secret("0a1b2c3d4e")
        >>> str(transport.redact(errors.ResponseError("refused 0a1b2c3d4e")))
        'refused ***'
        """
        return self.secrets.redact(error)

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
            raise cross_origin_error(self.site, url, self.provider)
        target = url
        overrides = call_overrides.get()
        call_headers = overrides[1] if overrides else None
        for _ in range(MAX_REDIRECTS + 1):
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
            if response.status_code not in REDIRECTS or location is None:
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
                raise redirected_elsewhere_error(method, target, location, response.status_code,
                                                 self.provider)
            if response.status_code == 303:
                method = "GET"
                kwargs.pop("data", None)
                kwargs.pop("json", None)
            target = location
        raise too_many_redirects_error(url, self.provider)

    def _check_address(self, url: str, source: str, status: Optional[int]) -> None:
        """Raise ResponseError when ``url`` (given, or a redirect from ``source``) cannot be
        requested: a site's page or redirect named a bad address."""
        error = address_error(url, source, status, self.provider)
        if error is not None:
            raise error

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
                for name in CREDENTIAL_HEADERS:
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
                f"could not send a request to {url}: {reason(exc)} (a header or the address "
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
        left = time_left()
        if left is not None and left <= 0.001 and isinstance(
                exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
            return self._total_timeout_error(url)
        return network_error(exc, url, self.provider, self.call_timeout())

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
                f"{url} sent a body that could not be decompressed ({reason(exc)})",
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
                f"the connection to {url} broke while the answer was arriving ({reason(exc)}); "
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
        return http_error(response, text, what=what, provider=self.provider,
                          body=errors.mask_secrets(text, self.held_secrets()))


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
