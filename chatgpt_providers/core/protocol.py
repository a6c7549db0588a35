"""What a plugin module provides: a :class:`Protocol`, which only speaks its plugin.

A protocol reads the site's tokens (nonce, endpoints, bot) from a page or an endpoint, sends
a message in one or two requests, turns the answer's events or JSON into text, and says what
a refusal means. Everything else (retries, the one nonce refresh, deadlines, size caps,
``partial_text``, closing the response, ending at the end marker) is the shared loop's, in
:mod:`chatgpt_providers.core.loop`, written once.

A message takes one request (:meth:`Protocol.send`) or two: :meth:`Protocol.prepare` runs
first when a plugin wants it (AI Power 2.3+ caches the message, then streams the answer),
and what it returns is handed to ``send``. The loop keeps it across a nonce refresh, calls
``prepare`` again (once) when ``send`` raises :class:`PreparedExpired`, and hands it to
:meth:`Protocol.release` once it is done with it, whatever happened.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generator, Iterator, NoReturn, Optional

import requests

from .. import errors
from .messages import ParsedMessages
from .results import Reply
from .site import Site, Tokens, Turn
from .sse import JsonEvent

__all__ = ["Protocol", "NonceRefused", "PreparedExpired"]


class NonceRefused(Exception):
    """Raised by a protocol, before any text, when the site refused the nonce (or the tokens
    are otherwise out of date): the loop fetches fresh ones (once) and repeats the step.
    When fresh tokens are refused too, ``repeated`` is raised if given, else an
    :class:`~chatgpt_providers.errors.AuthenticationError`."""

    def __init__(self, response: Optional[requests.Response], detail: str, *,
                 repeated: Optional[errors.ProviderError] = None) -> None:
        super().__init__(detail)
        self.response = response
        self.detail = detail
        self.repeated = repeated


class PreparedExpired(Exception):
    """Raised by :meth:`Protocol.send` (or the answer, before any text) when what
    :meth:`Protocol.prepare` made is gone (AI Power 2.3+: a consumed or expired cache key).
    The loop prepares again once; a second time, ``error`` is raised."""

    def __init__(self, error: errors.ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


class Protocol:
    """The plugin-specific half of a client. Each method gets the :class:`~.site.Site` (name,
    address, transport, pages, token cache: all a protocol may use) and the
    :class:`~.site.Turn` (conversation, reply, tokens, prepared). Subclasses implement
    :meth:`fetch_tokens`, :meth:`send`, :meth:`read_events` and :meth:`raise_for_answer`;
    :meth:`prepare`, :meth:`release`, :meth:`read_json` and :meth:`speaker` are optional.

    >>> Protocol.plugin, Protocol().prepare(None, None) is None
    ('', True)
    """

    #: The plugin's name, for messages (``"AI Engine"``).
    plugin: ClassVar[str] = ""
    #: What ends a reply on the wire, for the message when a stream stops short.
    end_marker: ClassVar[str] = "the end marker"

    @staticmethod
    def recognise(page: str) -> Optional[str]:
        """What on ``page`` shows this plugin's chatbot, in words, or None (detection reads
        pages with it)."""
        return None

    @staticmethod
    def page_version(page: str) -> Optional[str]:
        """The plugin's version as its own script tag on ``page`` shows it, or None."""
        return None
    #: The page that shows the chatbot (its settings and nonce are read there).
    page_url: str = ""
    #: The bot the caller asked for, or None for the page's default one.
    bot_id: Optional[str] = None

    def fetch_tokens(self, site: Site, stale: Any = None) -> Any:
        """The nonce and whatever else a message needs. ``stale`` is given when the site
        refused those tokens: fetch fresh ones (bypassing page caches)."""
        raise NotImplementedError

    def speaker(self, tokens: Tokens) -> Protocol:
        """The protocol that speaks ``tokens``: this one, unless :meth:`fetch_tokens` can
        return another protocol's tokens (a plugin read across its generations), in which
        case the tokens' type names it."""
        return self

    def check(self, conversation: ParsedMessages, chat_id: Optional[str]) -> None:
        """Raise ValueError, before any traffic, for a message this plugin would refuse."""

    def prepare(self, site: Site, turn: Turn) -> Any:
        """A first request, for plugins that take two per message; None by default."""
        return None

    def release(self, prepared: Any, reply: Reply) -> None:
        """The loop is done with what :meth:`prepare` made (the message was answered, failed,
        or is about to be prepared again): settle whatever it holds. Nothing by default."""

    def send(self, site: Site, turn: Turn) -> requests.Response:
        """Send the request whose answer carries the reply; return the streamed response."""
        raise NotImplementedError

    def read_events(self, site: Site, turn: Turn, events: Iterator[JsonEvent],
                    response: requests.Response) -> Generator[str, None, bool]:
        """Yield the reply's text from the answer's events; return True at the end marker
        (False when the events ran out without one)."""
        raise NotImplementedError

    def read_json(self, site: Site, turn: Turn, data: Any, response: requests.Response) -> str:
        """The reply in a JSON answer (``data`` is None when the body is not JSON)."""
        raise errors.ResponseError(
            f"{response.url} sent JSON where an event stream was due",
            url=response.url, status_code=response.status_code, body=response.content,
        )

    def raise_for_answer(self, site: Site, turn: Turn, response: requests.Response) -> NoReturn:
        """Raise the typed error (or :class:`NonceRefused`) for an answer that is neither an
        event stream nor JSON, or not HTTP 200."""
        raise site.transport.http_error(response, what="the message")
