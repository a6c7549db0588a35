"""Health checks behind ``chatgpt-providers check``: is a site's chatbot usable right now?"""

from __future__ import annotations

import time
from typing import List, Optional

from .. import errors
from ..core.provider import ChatProvider
from ..core.record import Record
from .detection import detect_in_page

__all__ = ["Health", "check", "format_table"]

_UNSUPPORTED = "plugin missing: the page shows no chatbot this client speaks"


class Health(Record):
    """One site's health: reachable, plugin found, nonce obtained, first-text latency (ms),
    and a diagnosis (``"ok"`` when all is well).

    >>> Health("https://s", "ChatGptt", True, "AI Power", False, None, "nonce refused").ok
    False
    """

    __slots__ = ("site", "provider", "reachable", "plugin", "nonce", "first_text_ms", "diagnosis")
    # The fields' types, for type checkers (Record fills the slots from __init__'s arguments).
    site: str
    provider: str
    reachable: bool
    plugin: Optional[str]
    nonce: bool
    first_text_ms: Optional[float]
    diagnosis: str

    @property
    def ok(self) -> bool:
        return self.diagnosis == "ok"


def _diagnose(exc: BaseException) -> str:
    if isinstance(exc, errors.BlockedError):
        if "Cloudflare" in str(exc) or "challenge" in str(exc):
            return "Cloudflare/WAF challenge: try later, another network, or proxy="
        return "blocked: the site bans this IP"
    if isinstance(exc, errors.UnsupportedSiteError):
        return _UNSUPPORTED
    if isinstance(exc, errors.AuthenticationError):
        return "nonce refused even after a refresh"
    if isinstance(exc, errors.NonceError):
        return "no nonce: the page shows no chatbot (pass page=)"
    if isinstance(exc, errors.RateLimitError):
        return "rate limited: try later"
    if isinstance(exc, errors.TimeoutError):
        return "timed out"
    if isinstance(exc, errors.NetworkError):
        return "unreachable"
    return f"{type(exc).__name__}: {exc}"[:120]


def check(client: ChatProvider, question: str = "Hi") -> Health:
    """Check ``client``'s site step by step: page, plugin, nonce, a first answer.

    >>> from chatgpt_providers import ChatGptt
    >>> check(ChatGptt()).diagnosis                  # doctest: +SKIP
    'ok'
    """
    site = client.base_url
    plugin: Optional[str] = None
    try:
        html = client.site.get_page(client.page_url, "the chatbot page")
    except errors.ProviderError as exc:
        reachable = not isinstance(exc, errors.NetworkError)
        return Health(site, client.name, reachable, None, False, None, _diagnose(exc))
    found = detect_in_page(html, prefer=client.plugin)
    plugin = found.name if found.plugin else None
    if not found.supported:
        diagnosis = _UNSUPPORTED if found.plugin else f"plugin missing: {found.detail}"
        return Health(site, client.name, True, plugin, False, None, diagnosis)
    if found.plugin not in client.speaks:
        return Health(site, client.name, True, plugin, False, None,
                      f"the page runs {found.name}, not {client.plugin}: use connect(url)")
    try:
        client.forget_nonce()
        client._current_tokens()
    except errors.ProviderError as exc:  # fetched outside the loop, which redacts: do it here
        return Health(site, client.name, True, plugin, False, None,
                      _diagnose(client.transport.redact(exc)))
    start = time.perf_counter()
    first_ms = None
    try:
        for _ in client.stream(question):
            if first_ms is None:
                first_ms = (time.perf_counter() - start) * 1000
    except errors.ProviderError as exc:
        return Health(site, client.name, True, plugin, True, first_ms, _diagnose(exc))
    if first_ms is None:
        return Health(site, client.name, True, plugin, True, None, "empty answer")
    return Health(site, client.name, True, plugin, True, first_ms, "ok")


def format_table(results: List[Health]) -> str:
    """A plain-text table of health checks.

    >>> print(format_table([Health("https://s", "ChatGptt", True, "AI Power", True, 41.5, "ok")]))
    site       provider  reachable  plugin    nonce  first text  diagnosis
    https://s  ChatGptt  yes        AI Power  yes    42 ms       ok
    """
    header = ("site", "provider", "reachable", "plugin", "nonce", "first text", "diagnosis")
    rows = [header] + [(
        r.site, r.provider, "yes" if r.reachable else "no", r.plugin or "-",
        "yes" if r.nonce else "no",
        f"{r.first_text_ms:.0f} ms" if r.first_text_ms is not None else "-", r.diagnosis,
    ) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in rows)
