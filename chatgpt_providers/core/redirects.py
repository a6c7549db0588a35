"""Where a request may go, and what it may carry there: the redirect and origin policy.

A client talks to one site. The nonce and the user's credential headers go only to the origin
a request was meant for (scheme, host and port) or its upgrade from http to https on the same
host; a request other than GET is re-sent only within that origin; an address a page or a
``Location`` names that cannot be requested is a typed error, never a crash.
:meth:`~chatgpt_providers.core.transport.Transport.request` follows redirects by these rules.
"""

from __future__ import annotations

from typing import Optional, Tuple
from urllib.parse import urlsplit

from .. import errors

__all__ = ["REDIRECTS", "MAX_REDIRECTS", "CREDENTIAL_HEADERS", "origin", "keeps_credentials",
           "address_error", "cross_origin_error", "redirected_elsewhere_error",
           "too_many_redirects_error"]

#: The statuses followed as redirects.
REDIRECTS = (301, 302, 303, 307, 308)
#: More hops than this is a loop or a misconfigured site.
MAX_REDIRECTS = 5
#: Headers that carry the user's credentials: never sent to another origin on a redirect.
CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-Authorization")
_DEFAULT_PORTS = {"http": 80, "https": 443}


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


def address_error(url: str, source: str, status: Optional[int], provider: Optional[str]
                  ) -> Optional[errors.ResponseError]:
    """The error for an address that cannot be requested (given, or a redirect from
    ``source`` with ``status``), or None when it can be.

    >>> str(address_error("ftp://s.example/", "ftp://s.example/", None, "Doc")).split(";")[0]
    "the address 'ftp://s.example/', which cannot be requested (not an http(s) address)"
    >>> address_error("https://s.example/", "https://s.example/", None, "Doc") is None
    True
    """
    problem = _unusable(url)
    if problem is None:
        return None
    where = f"{source} redirected to" if status is not None else "the address"
    return errors.ResponseError(
        f"{where} {url!r}, which cannot be requested ({problem}); check base_url= and "
        "that the site is set up correctly",
        provider=provider, url=source, status_code=status,
    )


def cross_origin_error(site: str, url: str, provider: Optional[str]) -> errors.CrossOriginError:
    """The error for a request a page directed elsewhere than the client's site."""
    ours, theirs = _origin_text(site), _origin_text(url)
    return errors.CrossOriginError(
        f"refused to send a request to {theirs}: the client talks to {ours} only, and a page "
        f"(or page=) directed it to another origin (scheme, host and port must match, or be the "
        f"https upgrade of the same host); if the chatbot really lives on {theirs}, pass "
        f"base_url='{theirs}'",
        provider=provider, url=url.split("?", 1)[0],
    )


def redirected_elsewhere_error(method: str, url: str, location: str, status: int,
                               provider: Optional[str]) -> errors.ResponseError:
    """The error for a request other than GET redirected off its origin (never re-sent)."""
    return errors.ResponseError(
        f"{url} redirected a {method} to another site ({location}); "
        "pass base_url= with the site's real address",
        provider=provider, url=url, status_code=status,
    )


def too_many_redirects_error(url: str, provider: Optional[str]) -> errors.ResponseError:
    return errors.ResponseError(
        f"{url} redirected more than {MAX_REDIRECTS} times; pass base_url= with the "
        "site's real address",
        provider=provider, url=url,
    )


def _origin_text(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, the port shown only when it is not the default.

    >>> _origin_text("https://Site.example:443/wp-json"), _origin_text("http://s.example:8080/a?b")
    ('https://site.example', 'http://s.example:8080')
    """
    scheme, host, port = origin(url)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if port == _DEFAULT_PORTS.get(scheme) else f":{port}")
