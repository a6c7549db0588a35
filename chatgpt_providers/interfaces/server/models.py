"""The models an endpoint serves: the presets, ``auto`` (failover across them) and the sites
given with ``--site``; each one client made on first use and shared by every request thread.

Constraint: a client is made once per model, under a per-model lock (a slow site detection
holds up only its own model), and then read without a lock; its connection pool is widened
to the number of request threads so no thread waits for a connection.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict, Iterable, List, Optional, Tuple
from urllib.parse import urlsplit

from ...core.provider import ChatAPI, ChatProvider
from ..compat import resolve_provider
from ..registry import PRESETS, find, normalized

__all__ = ["Models", "parse_site", "close_quietly", "PRESET_MODELS", "AUTO", "DEFAULT_THREADS"]

log = logging.getLogger("chatgpt_providers")

#: Request threads of the server: each streaming request holds one until it ends (and one
#: pooled connection per site).
DEFAULT_THREADS = 16
#: The preset models, in the order ``GET /v1/models`` lists them (the registry's presets).
PRESET_MODELS: Tuple[str, ...] = tuple(entry.key for entry in PRESETS)
#: The model that fails over across the presets.
AUTO = "auto"


def close_quietly(thing: Any) -> None:
    """Close a client or a generator (ChatAPI and Iterator do not promise ``close``).

    >>> close_quietly(iter([]))
    """
    close = getattr(thing, "close", None)
    if close is not None:
        close()




def parse_site(spec: str) -> Tuple[str, str]:
    """``--site`` values: ``NAME=URL``, or a bare ``URL`` named after its host.

    >>> parse_site("https://blog.example/chat/")
    ('blog.example', 'https://blog.example/chat/')
    >>> parse_site("mine=http://127.0.0.1:8080/?page_id=2")
    ('mine', 'http://127.0.0.1:8080/?page_id=2')
    """
    name, url = "", spec.strip()
    head, sep, tail = url.partition("=")
    if sep and "/" not in head and ":" not in head:
        name, url = head.strip(), tail.strip()
        if not name:
            raise ValueError(f"--site {spec!r}: the name before '=' is empty")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--site needs an http(s) page address like https://site.example/chat/ "
                         f"(or NAME=URL); got {spec!r}")
    return (name or parts.hostname.lower()), url


class Models:
    """The models an endpoint serves, each one client made on first use (under a lock) and
    then shared by every request thread: one nonce per site, kept-alive connections.

    >>> models = Models(sites=["https://blog.example/chat/"])
    >>> models.ids()
    ['chatgpt4online', 'chatgptt', 'auto', 'blog.example']
    >>> models.lookup("ChatGptt"), models.lookup("gpt-4o")
    ('chatgptt', None)

    ``providers`` picks which of the presets and ``auto`` are served (default: all);
    ``sites`` adds pages (``URL`` or ``NAME=URL``) whose plugin is detected on first use
    (:func:`~chatgpt_providers.connect`). ``base_url`` points the presets at another
    address (the stand-in in tests); ``options`` go to every client (``timeout=``,
    ``retries=``, ``proxy=``, ...). ``pool_size`` widens each client's connection pool to
    the number of request threads.
    """

    def __init__(self, providers: Optional[Iterable[str]] = None, *, sites: Iterable[str] = (),
                 base_url: Optional[str] = None, pool_size: Optional[int] = None,
                 **options: Any) -> None:
        names = list(providers) if providers is not None else [*PRESET_MODELS, AUTO]
        if isinstance(providers, str):
            names = [providers]
        known = {normalized(name): name for name in (*PRESET_MODELS, AUTO)}
        self._order: List[str] = []
        for name in names:
            canonical = known.get(normalized(str(name)))
            if canonical is None:
                entry = find(str(name))
                if entry is not None:  # a protocol client: it needs a site's address
                    raise ValueError(f"{name!r} speaks a plugin on any site: serve a site running "
                                     f"it with sites=/--site URL (its plugin is detected); the "
                                     f"presets are {', '.join(known.values())}")
                raise ValueError(f"unknown provider {name!r}; choose from {', '.join(known.values())} "
                                 "(other sites: sites=/--site URL)")
            if canonical not in self._order:
                self._order.append(canonical)
        self._sites: Dict[str, str] = {}
        for spec in sites:
            name, url = parse_site(spec)
            if name in self._sites or normalized(name) in known:
                raise ValueError(f"two models would be called {name!r}; name the site: "
                                 f"--site NAME={url}")
            self._sites[name] = url
            self._order.append(name)
        if not self._order:
            raise ValueError("no models to serve: give at least one provider or site")
        self.base_url = base_url
        self.pool_size = pool_size
        self.options = dict(options)
        self._check_options()
        self._made: Dict[str, ChatAPI] = {}
        self._locks: Dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        #: When the list was made: the ``created`` of every model.
        self.created = int(time.time())

    def _check_options(self) -> None:
        """Bad options (a negative timeout, an unknown keyword) fail now, not at the first
        request: a throwaway client is made and closed (no traffic)."""
        extra = {"base_url": self.base_url} if self.base_url else {}
        close_quietly(resolve_provider(PRESET_MODELS[0], **extra, **self.options))

    def ids(self) -> List[str]:
        """The model ids, in order (see the class example)."""
        return list(self._order)

    def lookup(self, name: object) -> Optional[str]:
        """The id of the model called ``name`` (presets in any case, ``-``/``_`` ignored),
        or None (see the class example)."""
        if not isinstance(name, str):
            return None
        if name in self._sites:
            return name
        wanted = normalized(name)
        for model in self._order:
            if normalized(model) == wanted:
                return model
        return None

    def client(self, model: str) -> ChatAPI:
        """The shared client of ``model`` (an id from :meth:`ids`), made on first use. A site
        that cannot be reached or recognised raises its ProviderError and is tried again on
        the next request.

        >>> Models().client("auto").name
        'RetryProvider'
        """
        if model not in self._order:
            raise ValueError(f"model {model!r} is not served here; use one of {self.ids()}")
        return self._shared(model)

    def _shared(self, name: str) -> ChatAPI:
        made = self._made.get(name)  # one dict read: no lock once made
        if made is not None:
            return made
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # one lock per model: a slow site detection does not hold up the others
            made = self._made.get(name)
            if made is None:
                made = self._make(name)
                self._made[name] = made
            return made

    def _make(self, name: str) -> ChatAPI:
        if name == AUTO:  # the presets' own shared clients, whether or not they are served
            from ..failover import RetryProvider

            return RetryProvider([self._shared(preset) for preset in PRESET_MODELS])  # type: ignore[misc]
        if name in PRESET_MODELS:
            extra = {"base_url": self.base_url} if self.base_url else {}
            return self._widen(resolve_provider(name, **extra, **self.options))  # type: ignore[arg-type]
        from ..detection import connect

        log.info("detecting the chatbot of model %s at %s", name, self._sites[name])
        return self._widen(connect(self._sites[name], **self.options))

    def _widen(self, client: ChatProvider) -> ChatProvider:
        """Room in the connection pool for every request thread (requests keeps 10)."""
        size = self.pool_size
        if size and size > 10 and "session" not in self.options:
            from requests.adapters import HTTPAdapter

            for prefix in ("https://", "http://"):
                client.transport.session.mount(prefix, HTTPAdapter(pool_maxsize=size))
        return client

    def close(self) -> None:
        """Close every client made so far.

        >>> Models().close()
        """
        with self._lock:
            made, self._made = list(self._made.values()), {}
        for client in made:
            if not hasattr(client, "providers"):  # a RetryProvider's members are closed here
                close_quietly(client)
