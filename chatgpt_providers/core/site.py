"""What a protocol may use of a client: the :class:`Site` it talks to, and the :class:`Turn`
(one message and what the call learned about it).

A protocol sees a site's name, address, transport (which already names the provider on every
error), its pages and its token cache, and nothing else of the client that made them; the
loop (:mod:`chatgpt_providers.core.loop`) hands both to each protocol method.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Tuple
from urllib.parse import urljoin

from .. import errors
from .messages import ParsedMessages
from .results import Reply
from .scrape import page_text
from .sse import DEFAULT_MAX_EVENT_BYTES
from .timeouts import time_left
from .transport import Transport

__all__ = ["Site", "Turn", "Tokens", "FetchTokens", "DEFAULT_MAX_REPLY_CHARS"]

#: Longest reply accepted by default (characters); a site sending more is cut off.
DEFAULT_MAX_REPLY_CHARS = 16 * 1024 * 1024

#: What a protocol needs from the site for a message (nonce and settings): its own record.
Tokens = Any
#: ``protocol.fetch_tokens``: ``(site, stale)`` -> fresh tokens (``stale`` None: a first read).
FetchTokens = Callable[["Site", Any], Any]


class Site:
    """One site as its protocol sees it: ``name`` (the provider's, for messages), ``base_url``,
    ``transport``, page fetching, and the token cache shared by every call and thread.

    >>> from chatgpt_providers.core.transport import Transport
    >>> site = Site("Doc", "https://site.example", Transport(provider="Doc"))
    >>> site.page_url("/chat/"), site.transport.provider
    ('https://site.example/chat/', 'Doc')

    The limits every call on the site runs under (``total_timeout``, ``max_reply_chars``,
    ``max_event_bytes``) live here too, read by the loop.
    """

    def __init__(self, name: str, base_url: str, transport: Transport, *,
                 total_timeout: Optional[float] = None,
                 max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
                 max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.name = name
        self.base_url = base_url
        self.transport = transport
        #: Seconds a whole call may take, retries included (None: no limit beyond the timeout).
        self.total_timeout = total_timeout
        self.max_reply_chars = max_reply_chars
        self.max_event_bytes = max_event_bytes
        self._lock = threading.Lock()
        self._tokens: Tokens = None
        #: ``(url, html)`` of a page already fetched (by ``connect()``): served once by get_page.
        self.handed_page: Optional[Tuple[str, str]] = None

    def page_url(self, page: str) -> str:
        """The address of ``page`` (a path, or a whole URL) on this site."""
        return urljoin(self.base_url + "/", page)

    def get_page(self, url: str, what: str, *, fresh: bool = False) -> str:
        """GET a page that should hold the chatbot and return its HTML (a page handed over
        by ``connect()`` is used once instead of fetching it again). ``fresh`` asks caches
        on the way for a new copy (a cached page may hold the nonce just refused)."""
        handed, self.handed_page = self.handed_page, None
        if handed is not None and handed[0] == url and not fresh:
            return handed[1]
        headers = {"Accept": "text/html,*/*;q=0.8"}
        if fresh:
            headers.update({"Cache-Control": "no-cache", "Pragma": "no-cache"})
        response = self.transport.request("GET", url, headers=headers)
        if response.status_code == 404:
            self.transport.read_body(response)
            raise errors.ResponseError(
                f"{url}: no such page (HTTP 404), so no chatbot to read there; check base_url "
                "and page=, the path of a page that shows the chatbot (e.g. '/chat/')",
                url=url, status_code=404, body=response.content, provider=self.name)
        if response.status_code != 200:
            raise self.transport.http_error(response, what=what)
        return page_text(response)

    # -- the token cache -----------------------------------------------------------------

    def current_tokens(self, fetch: FetchTokens) -> Tokens:
        """The cached tokens, fetched once with ``fetch`` however many threads ask at the
        same time."""
        tokens = self._tokens  # one attribute read is atomic: no lock once a nonce is cached
        if tokens is not None:
            return tokens
        with self._token_lock():
            if self._tokens is None:
                self._tokens = self._held(fetch(self, None))
            return self._tokens

    def refresh_tokens(self, fetch: FetchTokens, stale: Tokens) -> Tokens:
        """New tokens, unless another thread already replaced the stale ones."""
        with self._token_lock():
            if self._tokens is None or self._tokens is stale:
                self._tokens = self._held(fetch(self, stale))
            return self._tokens

    def replace_tokens(self, old: Tokens, new: Tokens) -> None:
        """Swap in tokens the site handed out (a rotated nonce), if ``old`` is still current."""
        with self._lock:
            if self._tokens is old:
                self._tokens = self._held(new)

    def forget_tokens(self) -> None:
        """Drop the cached tokens so the next call fetches fresh ones."""
        with self._lock:
            self._tokens = None

    @contextmanager
    def _token_lock(self) -> Iterator[None]:
        """The token lock, waited for no longer than what is left of the call's
        ``total_timeout`` (another thread may be fetching the nonce from a slow site)."""
        left = time_left()
        if not self._lock.acquire(timeout=-1 if left is None else max(0.0, left)):
            raise errors.TimeoutError(
                f"the call took longer than total_timeout={self.total_timeout:g} s while another "
                f"call was fetching the nonce from {self.base_url}; raise total_timeout= or try again",
                provider=self.name, url=self.base_url, phase="total",
            )
        try:
            yield
        finally:
            self._lock.release()

    def _held(self, tokens: Tokens) -> Tokens:
        """``tokens``, whose secret fields (a Record's ``_hidden`` ones: the nonce) the
        transport now masks in every error and log record."""
        for name in getattr(tokens, "_hidden", ()):
            self.transport.hold_secret(getattr(tokens, name, None))
        return tokens


class Turn:
    """One message on its way: the ``conversation`` sent, the ``reply`` being filled in, the
    ``tokens`` it is sent with and what ``prepare`` made of it (``prepared``).

    >>> from chatgpt_providers.core.messages import parse_messages
    >>> turn = Turn(parse_messages("Hi"), Reply())
    >>> turn.conversation.prompt, turn.tokens, turn.prepared
    ('Hi', None, None)
    """

    __slots__ = ("conversation", "reply", "tokens", "prepared")

    def __init__(self, conversation: ParsedMessages, reply: Reply) -> None:
        self.conversation = conversation
        self.reply = reply
        self.tokens: Tokens = None
        self.prepared: Any = None
