"""Which chatbot a page runs, and a client for it: ``connect(url)``."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple
from urllib.parse import urlsplit

from .. import errors
from ..core.options import constructor_options, take_options
from ..core.provider import ChatProvider
from ..core.record import Record
from ..core.scrape import page_text
from ..core.transport import Transport
from ..protocols.ai_engine import ERAS, AIEngine, page_era
from ..protocols.ai_power import AIPower
from ..protocols.aipkit import AIPKit, aipkit_version
from .registry import GENERATIONS, PROVIDERS

__all__ = ["Detection", "detect", "detect_in_page", "connect", "client_for", "describe",
           "AI_ENGINE", "AI_POWER", "AI_POWER_NEW"]

#: The plugin generations by the names their clients give them (``plugin``, ``speaks``).
AI_ENGINE = AIEngine.plugin
AI_POWER = AIPower.plugin
AI_POWER_NEW = AIPKit.plugin
_CONNECTION_OPTIONS = ("proxy", "proxies", "timeout", "headers", "verify", "session")


class Detection(Record):
    """What :func:`detect` found: ``plugin`` (``"AI Engine"``, ``"AI Power"`` for the legacy
    1.8 to 2.2 generation, ``"AI Power 2.3+"``, or None), the plugin ``version`` when the
    plugin's own script tag shows it (AI Engine stamps its scripts with file times: no version),
    the site's ``base_url``, the ``page`` path, a short ``detail`` for people, the page's
    ``html``, and the protocol ``era`` the client will speak there, in words
    (``docs/protocols/versions.md``; None when unknown).

    >>> found = Detection("AI Power 2.3+", "2.4.71", "https://s", "/chat/", "a bot", "<html>")
    >>> found.supported, found.era
    (True, None)
    """

    __slots__ = ("plugin", "version", "base_url", "page", "detail", "html", "era")
    _hidden = ("html",)
    plugin: Optional[str]
    version: Optional[str]
    base_url: str
    page: str
    detail: str
    html: str
    era: Optional[str]

    def __init__(self, plugin: Optional[str], version: Optional[str], base_url: str, page: str,
                 detail: str, html: str, era: Optional[str] = None) -> None:
        super().__init__(plugin, version, base_url, page, detail, html, era)

    @property
    def supported(self) -> bool:
        """Whether a client of this package speaks the chatbot found."""
        return self.plugin in _CLIENTS

    @property
    def client_name(self) -> Optional[str]:
        """The client class that speaks the chatbot found, or None.

        >>> Detection("AI Power 2.3+", None, "https://s", "/", "", "").client_name
        'AIPower'
        """
        client = _CLIENTS.get(self.plugin or "")
        return getattr(client, "__name__", None)

    @property
    def name(self) -> str:
        """The plugin as people say it, with its version when known (``"AI Power 2.4.71"``)."""
        if not self.plugin:
            return "no chatbot"
        if self.version and self.plugin == AI_POWER_NEW:
            return f"{AI_POWER} {self.version}"
        return f"{self.plugin} {self.version}" if self.version else self.plugin


def _split(url: str) -> Tuple[str, str]:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s) page address like 'https://site.example/chat/'; got {url!r}")
    page = parts.path or "/"
    if parts.query:
        page += "?" + parts.query
    return f"{parts.scheme}://{parts.netloc}", page


#: Each plugin generation: how a page shows it (its protocol recognises it), in the order a
#: page with several is read (the registry's GENERATIONS).
DETECTORS: Tuple[Tuple[str, Callable[[str], Optional[str]]], ...] = tuple(
    (protocol.plugin, protocol.recognise) for protocol in GENERATIONS)
#: The client that speaks each generation: the registry row that ``detects`` it (AIPower
#: speaks both AI Power generations, so a client made for a page keeps working when the site
#: upgrades).
_CLIENTS: Dict[str, Callable[..., ChatProvider]] = {
    generation: entry.client for entry in PROVIDERS for generation in entry.detects}
#: How each generation's page shows the plugin version (its own script tag).
_VERSIONS: Dict[str, Callable[[str], Optional[str]]] = {
    protocol.plugin: protocol.page_version for protocol in GENERATIONS}


def _release(version: Optional[str]) -> Tuple[int, ...]:
    return (tuple(int(n) for n in version.split(".")[:3]) + (0, 0, 0))[:3] if version else ()


def _era(plugin: str, version: Optional[str], html: str) -> Optional[str]:
    """The protocol era the client will speak, in words (``docs/protocols/versions.md``);
    for AI Engine as far as the page tells (``"D/F"`` waits for ``start_session``).

    >>> _era(AI_POWER, "1.8.79", "")
    'form POST (1.8: a GET works too), the stream ends at [DONE]'
    >>> _era(AI_POWER_NEW, "2.3", "")
    'cache POST + SSE stream, a fresh nonce from the page'
    """
    if plugin == AI_ENGINE:
        era = page_era(html)
        return ERAS.get(era or "", era)
    release = _release(version)
    if plugin == AI_POWER:
        if release and release <= (1, 8, 79):
            return "form POST (1.8: a GET works too), the stream ends at [DONE]"
        return "form POST, streamed or JSON as the site decides"
    if release and release < (2, 3, 41):
        return "cache POST + SSE stream, a fresh nonce from the page"
    return "cache POST + SSE stream, a fresh nonce from the refresh action"


#: Signs that AI Power 2.3+ is installed although the page shows no bot.
_AIPKIT_SIGNS = ("gpt3-ai-content-generator/dist/js/public-main", "aipkit_chat_config_global",
                 "aipkit_getchatnonceaction")


def detect_in_page(html: str, base_url: str = "", page: str = "/",
                   prefer: Optional[str] = None) -> Detection:
    """Recognise the chatbot in a page's HTML (linear time on any input). When a page
    shows several, AI Engine comes first, then AI Power 2.3+, then legacy AI Power, unless
    ``prefer`` names one of them.

    >>> detect_in_page('<div class="wpaicg-chat-shortcode" data-nonce="0a1b2c3d4e"></div>').plugin
    'AI Power'
    >>> detect_in_page('<a href="/aipkit-chat/">chat</a>').plugin is None
    True
    """
    names = [name for name, _ in DETECTORS]
    if prefer is not None and prefer not in names:
        raise ValueError(f"prefer must be one of {', '.join(map(repr, names))}; got {prefer!r}")
    found = {}
    for name, recognise in DETECTORS:
        detail = recognise(html)
        if detail:
            found[name] = detail
    if found:
        plugin = prefer if prefer in found else next(iter(found))
        detail = found[plugin]
        others = [name for name in found if name != plugin]
        if others:
            detail += f"; the page also has {others[0]} (prefer={others[0]!r} picks it)"
        version = _VERSIONS[plugin](html)
        return Detection(plugin, version, base_url, page, detail, html, _era(plugin, version, html))
    lower = html.lower()
    if any(sign in lower for sign in _AIPKIT_SIGNS):
        return Detection(None, aipkit_version(html), base_url, page,
                         "AI Power 2.3+ is installed, but this page shows no chatbot; pass the "
                         "address of a page that shows one", html)
    return Detection(None, None, base_url, page, "no AI Engine or AI Power chatbot on the page", html)


def detect(url: str, *, prefer: Optional[str] = None, **options: Any) -> Detection:
    """Fetch the page at ``url`` and say which chatbot it runs.

    >>> from chatgpt_providers import detect
    >>> detect("https://chatgptt.me/").plugin          # doctest: +SKIP
    'AI Power'

    Connection ``options``: ``proxy``, ``proxies``, ``timeout``, ``headers``, ``verify``,
    ``session``. Cloudflare challenges raise BlockedError, network problems NetworkError.
    An AI Engine page without a nonce is told apart (era D or F) by asking for
    ``start_session``, as the client would (``Detection.era``).
    """
    options = take_options("detect()", options, ("url", "prefer") + _CONNECTION_OPTIONS)
    return _detect(url, prefer, True, options)


def _detect(url: str, prefer: Optional[str], probe: bool, options: Dict[str, Any]) -> Detection:
    base_url, page = _split(url)
    transport = Transport(site=base_url, provider="detect", **options)  # the page's links stay on its site
    try:
        response = transport.request("GET", base_url + page,
                                     headers={"Accept": "text/html,*/*;q=0.8"})
        if response.status_code != 200:
            raise transport.http_error(response, what="the page")
        found = detect_in_page(page_text(response), base_url, page, prefer=prefer)
        if probe and found.era == "D/F":
            found = found._replace(era=_engine_session_era(transport, found))
        return found
    finally:
        transport.close()


def _engine_session_era(transport: Transport, found: Detection) -> str:
    """An AI Engine page without a nonce: ``start_session`` answering means era F, a site
    without the route era D (guests send no nonce)."""
    settings = AIEngine(found.base_url, page=found.page).protocol.settings_in(found.html)
    rest_url = (settings.rest_url or found.base_url + "/wp-json").rstrip("/")
    response = transport.request("POST", rest_url + "/mwai/v1/start_session")
    response.close()
    return ERAS["D"] if response.status_code in (404, 405, 501) else ERAS["F"]


def connect(url: str, *, prefer: Optional[str] = None, **options: Any) -> ChatProvider:
    """A client for the chatbot on the page at ``url``, whichever plugin it runs.

    >>> from chatgpt_providers import connect
    >>> bot = connect("https://any-site.example/chat/")   # doctest: +SKIP
    >>> bot.complete("Hi")                                # doctest: +SKIP
    'Hello!'

    ``options`` go to the client (``timeout=``, ``proxy=``, ``retries=``, ...). A page with no
    chatbot raises UnsupportedSiteError saying what was found. When the page shows several,
    ``prefer=`` picks one (``"AI Engine"``, ``"AI Power 2.3+"`` or ``"AI Power"``). For either
    AI Power generation the client is an :class:`~chatgpt_providers.AIPower`, which follows the
    site when it upgrades.
    """
    accepted = ["url", "prefer"]
    for cls in dict.fromkeys(_CLIENTS.values()):
        accepted += [name for name in constructor_options(cls)  # type: ignore[arg-type]
                     if name not in accepted and name not in ("base_url", "page")]
    options = take_options("connect()", options, accepted)  # before any traffic
    connection = {k: v for k, v in options.items() if k in _CONNECTION_OPTIONS}
    found = _detect(url, prefer, False, connection)  # the client asks start_session itself
    if found.plugin in _CLIENTS:
        takes = constructor_options(_CLIENTS[found.plugin])  # type: ignore[arg-type]
        foreign = [name for name in options if name not in takes]
        if foreign:
            raise TypeError(f"connect(): {', '.join(name + '=' for name in foreign)} "
                            f"{'does' if len(foreign) == 1 else 'do'} not apply to "
                            f"{found.client_name}, the client for {found.name} found at {url}")
    return client_for(found, **options)


def client_for(found: Detection, **options: Any) -> ChatProvider:
    """The client for a :class:`Detection`, primed with the page it came from.

    >>> page = '<div class="wpaicg-chatbox" data-type="widget" data-nonce="0a1b2c3d4e"></div>'
    >>> bot = client_for(detect_in_page(page, "https://s.example", "/chat/"))
    >>> bot, bot.page_url
    (AIPower('https://s.example'), 'https://s.example/chat/')
    """
    if found.plugin in _CLIENTS:
        client = _CLIENTS[found.plugin](found.base_url, page=found.page, **options)
        client._handed_page = (client.page_url, found.html)  # read from it, not fetched again
        return client
    raise errors.UnsupportedSiteError(
        f"{found.base_url}{found.page}: {found.detail}; pass the address of a page that shows "
        "an AI Engine or AI Power chatbot",
        url=found.base_url + found.page,
    )


def describe(found: Detection) -> str:
    """One line for people, e.g. for ``chatgpt-providers detect``.

    >>> describe(Detection(None, None, "https://s", "/", "no chatbot", ""))
    'https://s/: no chatbot'
    """
    where = f"{found.base_url}{found.page}"
    if not found.plugin:
        return f"{where}: {found.detail}"
    era = f", {found.era}" if found.era else ""
    return f"{where}: {found.name}{era} ({found.detail})"

