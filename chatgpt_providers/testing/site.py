"""The stand-in site: :class:`LocalSite` serves every plugin module's routes on 127.0.0.1."""

from __future__ import annotations

import re
import threading
from http.server import ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple, Type

from .ai_engine import AIEngineSite, EngineSiteState
from .ai_power import AIPowerSite, PowerSiteState
from .aipkit import AIPKitSite, AIPKitSiteState, AIPKitState
from .base import FAULTS, TARGETS, Fault, RecordedRequest, SiteHandler, StandInPlugin, new_nonce

__all__ = ["LocalSite", "PLUGINS", "RELEASES", "parse_plugins", "site_groups"]

#: Every plugin the stand-in serves, in page order.
PLUGINS: Tuple[Type[StandInPlugin], ...] = (AIEngineSite, AIPowerSite, AIPKitSite)
#: The releases ``plugin@release`` may name, per plugin (each plugin module's ``releases``).
RELEASES: Dict[str, str] = {plugin.plugin: plugin.releases for plugin in PLUGINS}
_BY_NAME: Dict[str, Type[StandInPlugin]] = {plugin.plugin: plugin for plugin in PLUGINS}
_RELEASE = re.compile(r"\d+(?:\.\d+){0,3}")


def site_groups(plugins: Tuple[str, ...]) -> List[Tuple[str, ...]]:
    """``plugins`` split into sites, each running at most one release of a plugin (as a
    WordPress site does), in order: one stand-in per group.

    >>> site_groups(("ai-engine@1.6", "ai-engine@1.9", "ai-power@1.8", "aipkit@2.3"))
    [('ai-engine@1.6', 'ai-power@1.8', 'aipkit@2.3'), ('ai-engine@1.9',)]
    """
    groups: List[List[str]] = []
    for spec in plugins:
        name = str(spec).strip().partition("@")[0]
        for group in groups:
            if name not in {other.partition("@")[0] for other in group}:
                group.append(spec)
                break
        else:
            groups.append([spec])
    return [tuple(group) for group in groups] or [()]


def parse_plugins(plugins: Tuple[str, ...]) -> Dict[str, Optional[str]]:
    """``plugins`` as ``{name: release or None}``, in order; ValueError, saying what is
    accepted, for an unknown name, a release that is not a dotted version or too old, or two
    releases of one plugin (a WordPress site runs one).

    >>> parse_plugins(("ai-engine@1.9.99", "aipkit"))
    {'ai-engine': '1.9.99', 'aipkit': None}
    >>> parse_plugins(("ai-engine@1.6", "ai-engine@1.9"))
    Traceback (most recent call last):
    ...
    ValueError: a site runs one release of a plugin; got ai-engine twice (start one LocalSite per release)
    """
    known = set(_BY_NAME)
    releases: Dict[str, Optional[str]] = {}
    for spec in plugins:
        name, _, release = str(spec).strip().partition("@")
        if name not in known:
            raise ValueError(f"plugins are {', '.join(sorted(known))} (optionally name@release, "
                             f"e.g. ai-engine@1.9); got {spec!r}")
        if name in releases:
            raise ValueError(f"a site runs one release of a plugin; got {name} twice (start one "
                             "LocalSite per release)")
        if release and not _RELEASE.fullmatch(release):
            raise ValueError(f"{spec!r}: the release must be a dotted version like 1.9.99; "
                             f"{name} takes {RELEASES[name]}")
        numbers = tuple(int(n) for n in release.split(".")) if release else None
        if numbers is not None and numbers < _BY_NAME[name].oldest:
            raise ValueError(f"{spec!r}: the stand-in serves {name} {RELEASES[name]}")
        releases[name] = release or None
    return releases


class LocalSite:
    """A stand-in WordPress site on ``127.0.0.1`` serving the chatbot plugins: AI Engine,
    legacy AI Power (1.8 to 2.2) and AI Power 2.3+ ("AIPKit").

    >>> with LocalSite() as site:
    ...     site.url.startswith("http://127.0.0.1:")
    True

    Settings: ``delay`` seconds between streamed words, ``latency`` seconds added to every
    request, ``framing`` ``"chunked"`` or ``"close"`` (no length, ends on close),
    ``ai_power_stream`` (stream or JSON answers), ``ai_power_bot_id`` (a custom bot streams
    only when the request names it, as on real sites), ``pretty_permalinks`` (else the REST
    API lives at ``?rest_route=``), ``engine_start_session`` (False: the route is missing and
    the page carries ``restNonce``), ``rotate_nonce`` (every AI Engine ``end`` hands out a new
    nonce and the old one stops working), ``max_input`` (AI Engine max message length),
    ``plugins`` (which chatbots the site runs and its page shows: ``"ai-engine"``,
    ``"ai-power"``, ``"aipkit"``; legacy AI Power and 2.3+ together make a page with both;
    ``"name@release"`` runs that release's protocol era, e.g. ``"ai-engine@1.9"``,
    ``"ai-power@1.8"``, ``"aipkit@2.3"``: see :data:`RELEASES`), ``pages`` (the paths that
    show the chatbot; any other page is WordPress's 404),
    ``ai_power_version`` (``"2.3"`` or later: ``"ai-power"`` is the 2.3+ plugin, and the legacy
    actions answer HTTP 400 ``0``), ``aipkit_bot_id``, ``aipkit_max_messages`` (messages of
    history sent upstream), ``aipkit_cache_ttl`` (seconds a cached message lives),
    ``aipkit_popup`` (the bot as a popup rather than inline).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 0.002,
        latency: float = 0.0,
        framing: str = "chunked",
        ai_power_stream: bool = True,
        ai_power_bot_id: str = "0",
        pretty_permalinks: bool = True,
        engine_start_session: bool = True,
        rotate_nonce: bool = False,
        max_input: Optional[int] = None,
        plugins: Tuple[str, ...] = ("ai-engine", "ai-power"),
        ai_power_version: str = "1.9.8",
        aipkit_bot_id: str = "5",
        aipkit_max_messages: int = 15,
        aipkit_cache_ttl: float = 60.0,
        aipkit_popup: bool = False,
        pages: Tuple[str, ...] = ("/", "/chat/"),
    ) -> None:
        if framing not in ("chunked", "close"):
            raise ValueError(f"framing must be 'chunked' or 'close'; got {framing!r}")
        releases = parse_plugins(plugins)
        #: The plugins as given (``"ai-engine@1.9"``), for people.
        self.plugin_specs = tuple(str(spec).strip() for spec in plugins)
        plugins = tuple(releases)
        self.host = host
        self.port = port
        self.delay = delay
        self.latency = latency
        self.framing = framing
        self.ai_power_stream = ai_power_stream
        self.ai_power_bot_id = str(ai_power_bot_id)
        self.pretty_permalinks = pretty_permalinks
        self.engine_start_session = engine_start_session
        self.rotate_nonce = rotate_nonce
        self.max_input = max_input
        #: Which chatbots the page shows (the routes answer either way).
        self.plugins = tuple(plugins)
        #: "2.3" or later: the AIPKit rewrite, whose page differs and whose server answers
        #: the legacy actions with HTTP 400 ``0``.
        self.ai_power_version = ai_power_version
        self.aipkit_bot_id = str(aipkit_bot_id)
        self.aipkit_max_messages = aipkit_max_messages
        self.aipkit_cache_ttl = aipkit_cache_ttl
        self.aipkit_popup = aipkit_popup
        #: The AI Engine release whose era the site speaks (None: the current one).
        self.engine_release: Optional[str] = releases.get(AIEngineSite.plugin)
        #: The AI Power 2.3+ release ``"aipkit"`` runs (None: 2.4.71, or ``ai_power_version``).
        self.aipkit_release: Optional[str] = releases.get(AIPKitSite.plugin)
        if releases.get(AIPowerSite.plugin):
            self.ai_power_version = str(releases[AIPowerSite.plugin])
        #: The paths of the pages that show the chatbots.
        self.pages = tuple(pages)
        #: AI Power 2.3+'s server-side state: cache keys, conversations, what went upstream.
        self.aipkit = AIPKitState()
        self.requests: List[RecordedRequest] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._faults: List[Fault] = []
        self._stopping = threading.Event()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.engine_nonce = new_nonce()
        self.power_nonce = new_nonce()
        self.aipkit_nonce = new_nonce()

    # -- life cycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, once started."""
        if self._server is None:
            raise RuntimeError("the stand-in is not running; call start() or use 'with'")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> LocalSite:
        """Bind and serve in a background thread; returns the site.

        >>> site = LocalSite().start()
        >>> site.url.startswith("http://127.0.0.1:")
        True
        >>> site.stop()
        """
        if self._server is not None:
            return self
        # What every plugin's routes read of the site: the type checker holds LocalSite to it.
        served: Tuple[EngineSiteState, PowerSiteState, AIPKitSiteState] = (self, self, self)
        handler = type("Handler", (*PLUGINS, SiteHandler), {"site": served[0], "plugins": PLUGINS})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self._stopping.clear()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="chatgpt-providers-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (stalled streams end too); see :meth:`start`."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(5)
        self._server = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for ``chatgpt-providers serve``).

        >>> site = LocalSite(port=0)   # site.serve_forever() then blocks until Ctrl-C
        """
        self.start()
        try:
            while self._thread and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def __enter__(self) -> LocalSite:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- control -------------------------------------------------------------------------

    def inject(self, fault: str, count: int = 1, *, target: str = "chat", **params: Any) -> None:
        """Make the next ``count`` requests of ``target`` fail with ``fault``.

        >>> site = LocalSite()
        >>> site.inject("rate_limit", retry_after=3)
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose one of {', '.join(FAULTS)}")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}; got {target!r}")
        with self._lock:
            self._faults.append(Fault(fault, count, target, params))

    def clear_faults(self) -> None:
        """Forget every pending fault.

        >>> site = LocalSite(); site.inject("drop", count=3); site.clear_faults()
        """
        with self._lock:
            self._faults.clear()

    def expire_nonces(self) -> None:
        """Issue new nonces for every plugin; the old ones are refused from now on.

        >>> site = LocalSite(); old = site.power_nonce; site.expire_nonces()
        >>> site.power_nonce != old
        True
        """
        with self._lock:
            self.engine_nonce = new_nonce()
            self.power_nonce = new_nonce()
            self.aipkit_nonce = new_nonce()

    def clear_log(self) -> None:
        """Empty the request log and the connection count.

        >>> site = LocalSite(); site.clear_log(); site.requests
        []
        """
        with self._lock:
            self.requests.clear()
            self.connections = 0

    def routes(self) -> List[str]:
        """The routes of the logged requests, in order (``page``, ``session``, ``submit``,
        ``ajax``, ...).

        >>> from chatgpt_providers import Chatgpt4Online
        >>> with LocalSite() as site:
        ...     _ = Chatgpt4Online(base_url=site.url).complete("Hi")
        ...     site.routes()
        ['session', 'submit']
        """
        with self._lock:
            return [r.route for r in self.requests]

    def _take_fault(self, kind: Optional[str], header: Optional[str]) -> Optional[Fault]:
        if header:
            return Fault(header, 1, "any")
        with self._lock:
            for fault in self._faults:
                if fault.target == "any" or fault.target == kind:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


