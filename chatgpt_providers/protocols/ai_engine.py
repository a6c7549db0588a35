"""AI Engine ("mwai") chatbots: :class:`EngineProtocol`, the :class:`AIEngine` client and
the ``Chatgpt4Online`` preset.

Protocol (``docs/protocols/ai-engine.md``): a ``wp_rest`` nonce from
``POST {rest}/mwai/v1/start_session`` (or ``restNonce`` in the page's ``data-system``), then
``POST {rest}/mwai-ui/v1/chats/submit`` with ``X-WP-Nonce``; the answer streams as SSE
``live`` deltas closed by an authoritative ``end`` (or an ``error``), or comes as JSON.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from typing import Any, ClassVar, Generator, Iterator, NoReturn, Optional, Tuple
from urllib.parse import urljoin

import requests

from .. import errors
from ..core.messages import ParsedMessages
from ..core.protocol import NonceRefused, Protocol
from ..core.provider import ChatProvider
from ..core.record import Record
from ..core.results import Reply
from ..core.scrape import find_script_value, tags_with
from ..core.sse import JsonEvent, json_or_none

__all__ = ["AIEngine", "Chatgpt4Online", "EngineProtocol", "EngineTokens"]

log = logging.getLogger("chatgpt_providers")

_NONCE_CODES = ("rest_cookie_invalid_nonce", "rest_forbidden", "rest_not_logged_in")
#: ``live`` subtypes that carry answer text (no subtype at all does too).
_TEXT_SUBTYPES = (None, "content")


class EngineTokens(Record):
    """What a chat request needs from the site: where the REST API is, the nonce, the
    session, and which bot to talk to. The nonce stays out of ``repr``:

    >>> tokens = EngineTokens("https://s/wp-json", "a1b2c3d4e5", "sess", "default", None, 58)
    >>> "a1b2c3d4e5" in repr(tokens), tokens.bot_id
    (False, 'default')
    """

    __slots__ = ("rest_url", "nonce", "session_id", "bot_id", "custom_id", "context_id")
    _hidden = ("nonce",)
    rest_url: str
    nonce: Optional[str]
    session_id: Optional[str]
    bot_id: str
    custom_id: Optional[str]
    context_id: Optional[Any]


class _PageSettings(Record):
    __slots__ = ("rest_url", "bot_id", "custom_id", "context_id", "rest_nonce", "session_id")
    _hidden = ("rest_nonce",)
    rest_url: Optional[str]
    bot_id: Optional[str]
    custom_id: Optional[str]
    context_id: Optional[Any]
    rest_nonce: Optional[str]
    session_id: Optional[str]


class _RouteMissing(Exception):
    """start_session is not at this REST URL."""


#: HTTP statuses of a ``start_session`` that the site does not have (no AI Engine there).
_NO_ROUTE_STATUSES = (404, 405, 501)


class EngineProtocol(Protocol):
    """The AI Engine protocol for one bot on one site (see the module docstring).

    >>> EngineProtocol(page_url="https://s.example/").bot_id is None
    True
    """

    plugin = "AI Engine"
    end_marker = "end event"

    def __init__(self, *, page_url: str, bot_id: Optional[str] = None, custom_id: Optional[str] = None,
                 rest_url: Optional[str] = None) -> None:
        self.page_url = page_url
        self.bot_id = bot_id
        self.custom_id = custom_id
        self.rest_url = rest_url.rstrip("/") if rest_url else None
        self._chat_salt = secrets.token_hex(8)

    # -- the nonce -----------------------------------------------------------------------

    def fetch_tokens(self, client: ChatProvider, stale: Any = None) -> EngineTokens:
        page: Optional[_PageSettings] = None
        if self.bot_id is None and self.rest_url is None:
            page = self._read_page(client, fresh=stale is not None)
        rest_url = self.rest_url or (page and page.rest_url) or client.base_url + "/wp-json"
        try:
            nonce, session_id = self._start_session(client, rest_url)
        except _RouteMissing:
            if page is None:
                page = self._read_page(client, fresh=stale is not None)
            if page.rest_url and page.rest_url.rstrip("/") != rest_url:
                rest_url = page.rest_url.rstrip("/")
                try:
                    nonce, session_id = self._start_session(client, rest_url)
                except _RouteMissing:
                    nonce, session_id = self._nonce_from_page(page, rest_url)
            else:
                nonce, session_id = self._nonce_from_page(page, rest_url)
        bot_id = self.bot_id or (page and page.bot_id) or "default"
        custom_id = self.custom_id or (page.custom_id if page else None)
        context_id = page.context_id if page else None
        log.debug("%s: nonce obtained from %s", client.name, rest_url)
        return EngineTokens(rest_url, nonce, session_id, bot_id, custom_id, context_id)

    def _start_session(self, client: ChatProvider, rest_url: str) -> Tuple[str, Optional[str]]:
        url = rest_url + "/mwai/v1/start_session"
        response = client.transport.request("POST", url, provider=client.name)
        data = json_or_none(response.content)
        status = response.status_code
        if status in _NO_ROUTE_STATUSES or (status == 200 and not isinstance(data, dict)):
            raise _RouteMissing(url)
        if isinstance(data, dict) and data.get("success") and data.get("restNonce"):
            return str(data["restNonce"]), data.get("sessionId")
        if isinstance(data, dict) and data.get("success") is False:
            raise errors.NonceError(
                f"Unable to extract restNonce from {url}: the site said "
                f"{str(data.get('message') or 'no reason')!r}; try again later",
                url=url, status_code=status, body=response.content,
            )
        if status != 200:
            raise client.transport.http_error(response, provider=client.name, what="start_session")
        raise errors.NonceError(
            f"Unable to extract restNonce from {url}: the JSON answer has none",
            url=url, status_code=status, body=response.content,
        )

    def _read_page(self, client: ChatProvider, *, fresh: bool = False) -> _PageSettings:
        """The chatbot settings on the page (all None when it has none)."""
        page = client._get_page(self.page_url, "the chatbot page", fresh=fresh)
        for attrs in tags_with(page, "mwai-chatbot-container"):
            system = _json_attr(attrs.get("data-system"))
            if system is None:
                continue
            bot_id = system.get("botId")
            if self.bot_id is not None and bot_id is not None and str(bot_id) != str(self.bot_id):
                continue
            return _PageSettings(
                rest_url=_address(self.page_url, system.get("restUrl")),
                bot_id=str(bot_id) if bot_id is not None else None,
                custom_id=system.get("customId") or None,
                context_id=system.get("contextId"),
                rest_nonce=_text(system.get("restNonce")),
                session_id=system.get("sessionId") or None,
            )
        # Older versions printed the settings in an inline script.
        if "&quot;" in page:
            import html

            page = html.unescape(page)
        nonce = find_script_value(page, "restNonce")
        rest_url = find_script_value(page, "restUrl")
        bot_id = find_script_value(page, "botId")
        if nonce or rest_url:
            return _PageSettings(_address(self.page_url, rest_url), bot_id or None, None, None,
                                 nonce or None, None)
        log.info("%s: no AI Engine chatbot settings on %s; trying the default REST address",
                 client.name, self.page_url)
        return _PageSettings(None, None, None, None, None, None)

    def _nonce_from_page(self, page: _PageSettings, rest_url: str) -> Tuple[str, Optional[str]]:
        if page.rest_nonce:
            return page.rest_nonce, page.session_id
        raise errors.NonceError(
            f"Unable to extract a nonce from {rest_url}/mwai/v1/start_session (the site has no "
            f"such route) or from restNonce in the data-system of {self.page_url}: the AI Engine "
            "plugin does not seem to be installed there. Pass page= a page that shows the "
            "chatbot, or rest_url=",
            url=rest_url + "/mwai/v1/start_session",
        )

    # -- a message -----------------------------------------------------------------------

    def chat_id(self, conversation: ParsedMessages, reply: Reply) -> str:
        """A chatId stable for a conversation: derived from its first turn unless given."""
        if reply.chat_id:
            return reply.chat_id
        first = conversation.history[0][1] if conversation.history else conversation.prompt
        digest = hashlib.sha256(f"{self._chat_salt}\0{conversation.system}\0{first}".encode())
        return digest.hexdigest()[:12]

    def send(self, client: ChatProvider, tokens: EngineTokens, prepared: Any,
             conversation: ParsedMessages, reply: Reply) -> requests.Response:
        reply.chat_id = chat_id = self.chat_id(conversation, reply)
        body = {
            "botId": tokens.bot_id,
            "customId": tokens.custom_id,
            "session": tokens.session_id,
            "chatId": chat_id,
            "contextId": tokens.context_id,
            "messages": [{"role": role, "content": content}
                         for role, content in conversation.history],
            "newMessage": conversation.prompt_with_system,
            "newFileId": None,
            "stream": True,
        }
        return client.transport.request(
            "POST", tokens.rest_url + "/mwai-ui/v1/chats/submit", provider=client.name, stream=True,
            headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
            secret_headers={"X-WP-Nonce": tokens.nonce} if tokens.nonce else None,
            data=json.dumps(body).encode("utf-8"),
        )

    def raise_for_answer(self, client: ChatProvider, response: requests.Response, tokens: Any
                         ) -> NoReturn:
        data = json_or_none(client.transport.read_body(response, provider=client.name))
        status = response.status_code
        if isinstance(data, dict):
            code = data.get("code")
            message = str(data.get("message") or "")
            if status in (401, 403) and code in _NONCE_CODES:
                raise NonceRefused(response, f"HTTP {status} {code}")
            if data.get("success") is False and status in (400, 403):
                raise errors.RejectedError(
                    f"the chatbot rejected this message: {message!r}; it may be empty, too "
                    "long, or contain words the site does not allow",
                    url=response.url, status_code=status, body=response.content,
                )
            if data.get("success") is False and status >= 500:
                raise errors.ServerError(
                    f"the chatbot failed: {message!r}; try again later",
                    url=response.url, status_code=status, body=response.content,
                )
        if status == 200:
            raise errors.ResponseError(
                f"{response.url} answered with "
                f"{response.headers.get('content-type') or 'no content type'} where an event "
                "stream or JSON was due; is this an AI Engine site?",
                url=response.url, status_code=status, body=response.content,
            )
        raise client.transport.http_error(response, provider=client.name, what="the message")

    def read_json(self, client: ChatProvider, data: Any, response: requests.Response,
                  tokens: EngineTokens, reply: Reply) -> str:
        if not isinstance(data, dict) or not isinstance(data.get("reply"), str):
            if isinstance(data, dict) and data.get("success") is False:
                raise errors.ServerError(
                    f"the chatbot failed: {str(data.get('message') or 'no reason given')!r}",
                    url=response.url, status_code=response.status_code, body=response.content,
                )
            raise errors.ResponseError(
                f"{response.url} sent JSON without a reply", url=response.url,
                status_code=response.status_code, body=response.content,
            )
        self._take_final(client, data, tokens, reply)
        return data["reply"]

    def read_events(self, client: ChatProvider, events: Iterator[JsonEvent],
                    response: requests.Response, tokens: EngineTokens, prepared: Any,
                    reply: Reply
                    ) -> Generator[str, None, bool]:
        for _, event, _ in events:
            if not isinstance(event, dict):
                log.debug("%s: skipping an event that is not a JSON object", client.name)
                continue
            kind = event.get("type")
            if kind == "live":
                text = event.get("data")
                if event.get("subtype") in _TEXT_SUBTYPES and isinstance(text, str) and text:
                    yield text  # the loop adds it to reply.streamed
            elif kind == "end":
                # pop: the reply (maybe megabytes) is then held once (benchmark row 5: memory)
                final = _decode_end(event.pop("data", None))
                del event
                rest = self._finish(client, final, tokens, reply, response)
                if rest:
                    yield rest
                return True
            elif kind == "error":
                message = event.get("data")
                raise errors.ServerError(
                    f"the chatbot reported an error: {str(message or 'no message')!r}; "
                    "try again later",
                    url=response.url, status_code=response.status_code,
                )
        return False

    def _finish(self, client: ChatProvider, final: Any, tokens: EngineTokens, reply: Reply,
                response: requests.Response) -> str:
        """Take the ``end`` event; return the text still to yield."""
        if not isinstance(final, dict):
            raise errors.ResponseError(
                f"{response.url} sent an end event that is not a JSON object",
                url=response.url, status_code=response.status_code,
            )
        if final.get("success") is False:
            raise errors.ServerError(
                f"the chatbot failed: {str(final.get('message') or 'no reason given')!r}",
                url=response.url, status_code=response.status_code,
            )
        self._take_final(client, final, tokens, reply)
        text = final.get("reply")
        if not isinstance(text, str):
            return ""
        if reply.streamed.is_prefix_of(text):
            return text[len(reply.streamed):]
        log.info("%s: the site's final reply differs from the streamed text (a server-side "
                 "filter changed it); complete() returns the final one", client.name)
        return ""

    def _take_final(self, client: ChatProvider, final: dict, tokens: EngineTokens, reply: Reply
                    ) -> None:
        if isinstance(final.get("reply"), str):
            reply.final_text = final["reply"]
        if isinstance(final.get("usage"), dict):
            reply.usage = final["usage"]
        if final.get("chatId"):
            reply.chat_id = str(final["chatId"])
        token = final.get("new_token")
        if isinstance(token, str) and token:
            log.debug("%s: the site rotated the nonce", client.name)
            client._replace_tokens(tokens, tokens._replace(nonce=token))


class AIEngine(ChatProvider):
    """A chatbot on any WordPress site running the AI Engine plugin.

    >>> from chatgpt_providers import AIEngine
    >>> bot = AIEngine("https://site.example", bot_id="default")
    >>> bot.complete("Hi")                       # doctest: +SKIP
    'Hello! How can I help you today?'

    ``bot_id`` picks the chatbot; when omitted it is read from the page (``page=``, the
    home page by default), along with the REST address and ``customId``, so sites without
    pretty permalinks (``?rest_route=``) work. ``rest_url`` sets the REST address
    explicitly (e.g. ``"https://site.example/wp-json"``).
    """

    plugin = "AI Engine"
    speaks = ("AI Engine",)
    models: ClassVar = ["gpt-4o-mini", "gpt-4o", "gpt-4"]
    default_model: ClassVar = "gpt-4o-mini"
    #: The bot a preset talks to when none is given.
    default_bot_id: ClassVar[Optional[str]] = None
    protocol: EngineProtocol

    def __init__(self, base_url: Optional[str] = None, *, bot_id: Optional[str] = None,
                 custom_id: Optional[str] = None, rest_url: Optional[str] = None,
                 page: str = "/", **options: Any) -> None:
        super().__init__(base_url, **options)
        self.protocol = EngineProtocol(
            page_url=self._page_url(page),
            bot_id=bot_id if bot_id is not None else type(self).default_bot_id,
            custom_id=custom_id, rest_url=rest_url,
        )




def _json_attr(value: Optional[str]) -> Optional[dict]:
    data = json_or_none(value) if value else None
    return data if isinstance(data, dict) else None


def _text(value: Any) -> Optional[str]:
    """A page setting that must be text (a nonce): a string or a number, else None."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value) or None


def _address(page_url: str, value: Any) -> Optional[str]:
    """The page's ``restUrl`` as an absolute address (read against the page), or None when
    it is missing or not an address at all.

    >>> _address("https://s.example/chat/", "/wp-json"), _address("https://s.example/", 5)
    ('https://s.example/wp-json', None)
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return urljoin(page_url, value.strip())
    except ValueError:
        return None


def _decode_end(data: Any) -> Any:
    """The ``end`` event's ``data`` is JSON inside a JSON string; tolerate a plain object."""
    return json_or_none(data) if isinstance(data, str) else data


class Chatgpt4Online(AIEngine):
    """chatgpt4online.org, an AI Engine site: bot ``"default"``.

    >>> from chatgpt_providers import Chatgpt4Online
    >>> bot = Chatgpt4Online()                                   # the real site
    >>> local = Chatgpt4Online(base_url="http://127.0.0.1:8080")  # any AI Engine site
    >>> bot.url, local.url
    ('https://chatgpt4online.org', 'http://127.0.0.1:8080')
    """

    url = "https://chatgpt4online.org"
    default_bot_id = "default"
    models: ClassVar = ["gpt-4", "gpt-4o", "gpt-4o-mini"]
    default_model: ClassVar = "gpt-4"
