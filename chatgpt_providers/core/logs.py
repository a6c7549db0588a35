"""Log records without secrets: the library's logger and urllib3's.

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
from typing import Callable, Iterable, List

from ..errors import MASK, mask_secrets

__all__ = ["LOGGER_NAME", "SecretFilter", "guard", "mask_log_text"]

LOGGER_NAME = "chatgpt_providers"
#: Loggers that write request lines or URLs: the library's, and urllib3's.
GUARDED_LOGGERS = (LOGGER_NAME, "urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry",
                   "urllib3.poolmanager", "requests")

# A query or form parameter whose name says it is a secret: its value up to the next
# separator (``_ajax_nonce=…``, ``session_id=…``, ``cache_key=…``, ``_wpnonce=…``).
_SECRET_PARAMETER = re.compile(
    r"(?i)((?:^|[?&;\s\"'])[\w.\-\[\]%]*(?:nonce|session|token|cookie|key|secret|password)"
    r"[\w.\-\[\]%]*=)[^&;\s\"'<>]+")

_sources: weakref.WeakSet[object] = weakref.WeakSet()
_installed = False
_install_lock = threading.Lock()


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
    now on, as long as it lives; the first call installs the filters."""
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
