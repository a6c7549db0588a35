"""Which chatbot a page runs, and a client for it: ``connect(url)``."""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import urlsplit

from .. import errors
from ..core.provider import ChatProvider
from ..core.record import Record
from ..core.scrape import find_script_value, tags_with
from ..core.transport import Transport, page_text
from ..protocols.ai_engine import AIEngine
from ..protocols.ai_power import AIPower

__all__ = ["Detection", "detect", "detect_in_page", "connect", "client_for", "describe",
           "AI_ENGINE", "AI_POWER", "AI_POWER_NEW"]

AI_ENGINE = "AI Engine"
AI_POWER = "AI Power"
AI_POWER_NEW = "AI Power 2.3+"
_CONNECTION_OPTIONS = ("proxy", "proxies", "timeout", "headers", "verify", "session")


class Detection(Record):
    """What :func:`detect` found: ``plugin`` (``"AI Engine"``, ``"AI Power"``,
    ``"AI Power 2.3+"`` or None), the site's ``base_url``, the ``page`` path, a short
    ``detail`` for people, and the page's ``html``.

    >>> Detection("AI Power", "https://s", "/chat/", "a widget", "<html>").supported
    True
    """

    __slots__ = ("plugin", "base_url", "page", "detail", "html")
    _hidden = ("html",)

    @property
    def supported(self) -> bool:
        return self.plugin in (AI_ENGINE, AI_POWER)


def _split(url: str):
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s) page address like 'https://site.example/chat/'; got {url!r}")
    page = parts.path or "/"
    if parts.query:
        page += "?" + parts.query
    return f"{parts.scheme}://{parts.netloc}", page


def detect_in_page(html: str, base_url: str = "", page: str = "/",
                   prefer: Optional[str] = None) -> Detection:
    """Recognise the chatbot in a page's HTML (linear time on any input). When a page
    shows both plugins, AI Engine is chosen unless ``prefer="AI Power"``.

    >>> detect_in_page('<div class="wpaicg-chat-shortcode" data-nonce="0a1b2c3d4e"></div>').plugin
    'AI Power'
    >>> detect_in_page("<p>just a blog</p>").plugin is None
    True
    """
    if prefer not in (None, AI_ENGINE, AI_POWER):
        raise ValueError(f"prefer must be {AI_ENGINE!r} or {AI_POWER!r}; got {prefer!r}")
    found = {}
    if any(a.get("data-system") for a in tags_with(html, "mwai-chatbot-container")):
        found[AI_ENGINE] = "an AI Engine chatbot container"
    containers = [a for a in tags_with(html, "wpaicg-chat") if a.get("data-nonce")]
    if containers:
        kinds = sorted({a.get("data-type") or "shortcode" for a in containers})
        found[AI_POWER] = f"{len(containers)} AI Power chatbot container(s): {', '.join(kinds)}"
    elif find_script_value(html, "search_nonce"):
        found[AI_POWER] = "the AI Power script settings (wpaicgParams)"
    if AI_ENGINE not in found and "restnonce" in html.lower() and "mwai" in html.lower():
        found[AI_ENGINE] = "AI Engine script settings"
    if found:
        plugin = prefer if prefer in found else next(iter(found))
        detail = found[plugin]
        others = [name for name in found if name != plugin]
        if others:
            detail += f"; the page also has {others[0]} (prefer={others[0]!r} picks it)"
        return Detection(plugin, base_url, page, detail, html)
    if "aipkit" in html.lower():
        return Detection(AI_POWER_NEW, base_url, page,
                         "AI Power 2.3+ (AIPKit), whose protocol this client does not speak", html)
    return Detection(None, base_url, page, "no AI Engine or AI Power chatbot on the page", html)


def detect(url: str, *, prefer: Optional[str] = None, **options: Any) -> Detection:
    """Fetch the page at ``url`` and say which chatbot it runs.

    >>> from chatgpt_providers import detect
    >>> detect("https://chatgptt.me/").plugin          # doctest: +SKIP
    'AI Power'

    Connection ``options``: ``proxy``, ``proxies``, ``timeout``, ``headers``, ``verify``,
    ``session``. Cloudflare challenges raise BlockedError, network problems NetworkError.
    """
    base_url, page = _split(url)
    unknown = set(options) - set(_CONNECTION_OPTIONS)
    if unknown:
        raise TypeError(f"detect() takes connection options only; got {sorted(unknown)}")
    transport = Transport(**options)
    try:
        response = transport.request("GET", base_url + page, provider="detect",
                                     headers={"Accept": "text/html,*/*;q=0.8"})
        if response.status_code != 200:
            raise transport.http_error(response, provider="detect", what="the page")
        return detect_in_page(page_text(response), base_url, page, prefer=prefer)
    finally:
        transport.close()


def connect(url: str, *, prefer: Optional[str] = None, **options: Any) -> ChatProvider:
    """A client for the chatbot on the page at ``url``, whichever plugin it runs.

    >>> from chatgpt_providers import connect
    >>> bot = connect("https://any-site.example/chat/")   # doctest: +SKIP
    >>> bot.complete("Hi")                                # doctest: +SKIP
    'Hello!'

    ``options`` go to the client (``timeout=``, ``proxy=``, ``retries=``, ...). A page with
    neither plugin, or with AI Power 2.3+, raises UnsupportedSiteError saying which. When the
    page shows both plugins, ``prefer="AI Power"`` picks that one (AI Engine otherwise).
    """
    connection = {k: v for k, v in options.items() if k in _CONNECTION_OPTIONS}
    found = detect(url, prefer=prefer, **connection)
    return client_for(found, **options)


def client_for(found: Detection, **options: Any) -> ChatProvider:
    """The client for a :class:`Detection`, primed with the page it came from.

    >>> page = '<div class="wpaicg-chatbox" data-type="widget" data-nonce="0a1b2c3d4e"></div>'
    >>> bot = client_for(detect_in_page(page, "https://s.example", "/chat/"))
    >>> bot, bot.page_url
    (AIPower('https://s.example'), 'https://s.example/chat/')
    """
    if found.plugin in (AI_ENGINE, AI_POWER):
        cls = AIEngine if found.plugin == AI_ENGINE else AIPower
        client = cls(found.base_url, page=found.page, **options)
        client._handed_page = (client.page_url, found.html)  # read from it, not fetched again
        return client
    raise errors.UnsupportedSiteError(
        f"{found.base_url}{found.page}: {found.detail}; pass the address of a page that shows "
        "an AI Engine or AI Power (up to 2.2) chatbot",
        url=found.base_url + found.page,
    )


def describe(found: Detection) -> str:
    """One line for people, e.g. for ``chatgpt-providers detect``.

    >>> describe(Detection(None, "https://s", "/", "no chatbot", ""))
    'https://s/: no chatbot'
    """
    where = f"{found.base_url}{found.page}"
    if not found.plugin:
        return f"{where}: {found.detail}"
    return f"{where}: {found.plugin} ({found.detail})"

