"""Secrets a client holds (nonces, session ids, cookies, credential headers, proxy
passwords), kept out of every error and every log record: :class:`HeldSecrets` remembers them
per client and masks them in errors; :func:`guard` masks them in log records.

The library logs through one logger, ``logging.getLogger("chatgpt_providers")``. Nonces,
guest session ids, cookies and cache keys travel in URLs (AI Power 2.3+ streams with them in
the query string), and urllib3 logs every request line at DEBUG. :func:`guard` puts a
:class:`SecretFilter` on both the library's logger and urllib3's, once, when the first
transport is made (never on import): every record that is emitted, at any level, has the
values the live transports hold and the values of secret-named query parameters masked.
A filter runs only for records a logger emits, so a quiet log costs nothing.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from typing import Callable, Dict, Iterable, List, Mapping
from urllib.parse import urlsplit

import requests

from .. import errors
from ..errors import MASK, mask_secrets

__all__ = ["LOGGER_NAME", "HeldSecrets", "SecretFilter", "guard", "mask_log_text"]

LOGGER_NAME = "chatgpt_providers"
#: Loggers that write request lines or URLs: the library's, and urllib3's.
GUARDED_LOGGERS = (LOGGER_NAME, "urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry",
                   "urllib3.poolmanager", "requests")

# A query or form parameter whose name says it is a secret: its value up to the next
# separator (``_ajax_nonce=…``, ``session_id=…``, ``cache_key=…``, ``_wpnonce=…``).
_SECRET_PARAMETER = re.compile(
    r"(?i)((?:^|[?&;\s\"'])[\w.\-\[\]%]*(?:nonce|session|token|cookie|key|secret|password)"
    r"[\w.\-\[\]%]*=)[^&;\s\"'<>]+")

#: Headers that carry the user's credentials.
CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-Authorization")
#: Most nonces remembered for masking (old ones still appear in old pages and logs).
_MAX_HELD = 32

_sources: weakref.WeakSet[object] = weakref.WeakSet()
_installed = False
_install_lock = threading.Lock()


class HeldSecrets:
    """What one client must never show: the nonces it was handed (the most recent
    ``_MAX_HELD``), and what its session holds (cookies, credential headers, proxy passwords),
    read when asked so a cookie set a moment ago counts.

    >>> held = HeldSecrets(requests.Session(), {})
    >>> held.hold("0a1b2c3d4e")
    >>> str(held.redact(errors.ResponseError("refused 0a1b2c3d4e")))
    'refused ***'
    """

    def __init__(self, session: requests.Session, proxies: Mapping[str, str]) -> None:
        self._session = session
        self._proxies = proxies
        self._held: Dict[str, None] = {}  # insertion-ordered: the oldest goes first
        self._lock = threading.Lock()

    def hold(self, value: object) -> None:
        """Remember ``value`` (a nonce, a session id) as a secret; short values are not
        secrets (masking them would garble messages)."""
        if isinstance(value, str) and len(value) >= errors.MIN_SECRET_CHARS:
            with self._lock:
                self._held[value] = None
                while len(self._held) > _MAX_HELD:
                    del self._held[next(iter(self._held))]

    def values(self) -> List[str]:
        """Every secret this client holds now."""
        with self._lock:
            values = set(self._held)
        session = self._session
        for _ in range(3):  # another thread may change the jar while it is read
            try:
                values.update(value for value in session.cookies.values() if value)
                break
            except RuntimeError:
                continue
        for name in CREDENTIAL_HEADERS:
            header = session.headers.get(name)
            if isinstance(header, bytes):
                header = header.decode("latin-1")
            if not isinstance(header, str):
                continue
            values.add(header)
            if name == "Cookie":
                values.update(part.partition("=")[2].strip() for part in header.split(";"))
            else:
                values.add(header.partition(" ")[2].strip())
        for address in list(self._proxies.values()) + list(session.proxies.values()):
            try:
                password = urlsplit(address).password
            except (TypeError, ValueError):
                continue
            if password:
                values.add(password)
        return [value for value in values if len(value) >= errors.MIN_SECRET_CHARS]

    def redact(self, error: errors.ProviderError) -> errors.ProviderError:
        """Mask :meth:`values` in ``error`` (message, url, body); returns it."""
        return error.redact(self.values())


def mask_log_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with ``secrets`` and the values of secret-named parameters masked.

    >>> mask_log_text("GET /wp-admin/admin-ajax.php?action=x&session_id=9f1c&_ajax_nonce=054d4dd8dd&b=1")
    'GET /wp-admin/admin-ajax.php?action=x&session_id=***&_ajax_nonce=***&b=1'
    >>> mask_log_text("cookie value s3cr3t-cookie-value seen", ["s3cr3t-cookie-value"])
    'cookie value *** seen'
    """
    text = mask_secrets(text, secrets)
    if "=" in text:
        text = _SECRET_PARAMETER.sub(r"\1" + MASK, text)
    return text


class SecretFilter(logging.Filter):
    """Masks secrets in every record it sees (and never drops one).

    >>> record = logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1,
    ...                            '%s "%s"', ("http://s:80", "GET /?_ajax_nonce=054d4dd8dd"), None)
    >>> SecretFilter(lambda: []).filter(record), record.getMessage()
    (True, 'http://s:80 "GET /?_ajax_nonce=***"')
    """

    def __init__(self, secrets: Callable[[], List[str]]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's to report, not ours
            return True
        masked = mask_log_text(text, self._secrets())
        if masked != text:
            record.msg, record.args = masked, None
        return True


def _held_secrets() -> List[str]:
    values: List[str] = []
    for source in list(_sources):
        held = getattr(source, "held_secrets", None)
        if held is not None:
            values.extend(held())
    return values


def guard(source: object) -> None:
    """Mask the secrets ``source`` holds (its ``held_secrets()``) in every log record from
    now on, as long as it lives; the first call installs the filters.

    >>> import logging
    >>> class Holder:
    ...     def held_secrets(self): return ["0a1b2c3d4e5f"]
    >>> holder = Holder(); guard(holder)
    >>> record = logging.LogRecord("chatgpt_providers", logging.DEBUG, __file__, 1,
    ...                            "sent 0a1b2c3d4e5f", None, None)
    >>> logging.getLogger("chatgpt_providers").filter(record), record.getMessage()
    (True, 'sent ***')
    """
    global _installed
    _sources.add(source)
    if _installed:
        return
    with _install_lock:
        if not _installed:
            secret_filter = SecretFilter(_held_secrets)
            for name in GUARDED_LOGGERS:
                logging.getLogger(name).addFilter(secret_filter)
            _installed = True
