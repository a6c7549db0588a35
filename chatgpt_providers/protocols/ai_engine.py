"""AI Engine ("mwai") chatbots: :class:`EngineProtocol`, the :class:`AIEngine` client and
the ``Chatgpt4Online`` preset.

Protocol (``docs/protocols/ai-engine.md``): a ``wp_rest`` nonce from
``POST {rest}/mwai/v1/start_session`` (or ``restNonce`` in the page's ``data-system``), then
``POST {rest}/mwai-ui/v1/chats/submit`` with ``X-WP-Nonce``; the answer streams as SSE
``live`` deltas closed by an authoritative ``end`` (or an ``error``), or comes as JSON.

Older releases (``docs/protocols/versions.md``) are told apart by what the page and the routes
show, never by a version number (AI Engine stamps its scripts with file times):

==========  ====================================================================================
era         what shows it, and what is sent
==========  ====================================================================================
F  2.4.4+   ``start_session`` answers: its nonce, ``chats/submit``
E  2.0-2.4.3  no ``start_session``; ``data-system.restNonce`` set: that nonce, ``chats/submit``
D  1.6.76+  no ``start_session``; ``restNonce`` null: ``chats/submit`` with **no** ``X-WP-Nonce``
C  1.4.1+   a ``data-system`` with ``chatId`` and no ``botId``: ``POST mwai-bot/v1/chat``, JSON only
A/B legacy  ``[mwai_chat]``: script variables ``restNonce`` / ``apiURL`` (``ai-chatbot/v1/chat``,
            ``ai-engine/v1/chat``); the body carries a transcript ``prompt``; JSON only
==========  ====================================================================================

Size: one plugin across its six eras, which share the token reading, the body building and
the answer reading; a module per era would copy those shared parts into each.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from typing import Any, ClassVar, Dict, Generator, Iterator, NoReturn, Optional, Tuple
from urllib.parse import urljoin

import requests

from .. import errors
from ..core.messages import ParsedMessages
from ..core.protocol import NonceRefused, Protocol
from ..core.provider import ChatProvider
from ..core.record import Record
from ..core.results import Reply
from ..core.scrape import find_script_value, find_script_variable, tags_with
from ..core.site import Site, Turn
from ..core.sse import JsonEvent, json_or_none

__all__ = ["AIEngine", "Chatgpt4Online", "EngineProtocol", "EngineTokens", "ERAS", "page_era"]

log = logging.getLogger("chatgpt_providers")

_NONCE_CODES = ("rest_cookie_invalid_nonce", "rest_forbidden", "rest_not_logged_in")
#: ``live`` subtypes that carry answer text (no subtype at all does too).
_TEXT_SUBTYPES = (None, "content")

#: The protocol eras this client speaks, as ``detect()`` and errors name them.
ERAS = {
    "F": "chats/submit with a start_session nonce",
    "E": "chats/submit with the page's nonce",
    "D": "chats/submit without a nonce",
    "C": "mwai-bot/v1/chat, one JSON answer",
    "legacy": "the legacy [mwai_chat] page, one JSON answer",
}
#: The legacy page's settings, sent back as the page's own script sends them, with the
#: value a page that leaves one out gets (``docs/protocols/versions.md``, "legacy page").
_LEGACY_SETTINGS = (("env", "chatbot"), ("context", ""), ("userName", "User: "),
                    ("aiName", "AI: "), ("model", "gpt-3.5-turbo"), ("temperature", 0.8),
                    ("maxTokens", 1024), ("maxResults", 1), ("apiKey", ""), ("service", "openai"),
                    ("embeddingsIndex", ""), ("stop", ""))


class EngineTokens(Record):
    """What a chat request needs from the site: where the REST API is, the nonce, the
    session, and which bot to talk to. The nonce stays out of ``repr``:

    >>> tokens = EngineTokens("https://s/wp-json", "a1b2c3d4e5", "sess", "default", None, 58)
    >>> "a1b2c3d4e5" in repr(tokens), tokens.bot_id
    (False, 'default')

    ``era`` is the protocol era the site speaks (a key of :data:`ERAS`), ``chat_url`` the
    route a message goes to, ``settings`` the legacy page's own settings.
    """

    __slots__ = ("rest_url", "nonce", "session_id", "bot_id", "custom_id", "context_id", "era",
                 "chat_url", "settings")
    _hidden = ("nonce",)
    rest_url: str
    nonce: Optional[str]
    session_id: Optional[str]
    bot_id: str
    custom_id: Optional[str]
    context_id: Optional[Any]
    era: str
    chat_url: str
    settings: Optional[Dict[str, Any]]

    def __init__(self, rest_url: str, nonce: Optional[str], session_id: Optional[str], bot_id: str,
                 custom_id: Optional[str], context_id: Optional[Any], era: str = "F",
                 chat_url: str = "", settings: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(rest_url, nonce, session_id, bot_id, custom_id, context_id, era,
                         chat_url or rest_url + "/mwai-ui/v1/chats/submit", settings)


class _PageSettings(Record):
    """What the page shows. ``kind``: ``"ui"`` (a ``data-system`` with ``botId``: eras D-F),
    ``"bot"`` (``chatId`` and no ``botId``: era C), ``"legacy"`` (script variables), or None."""

    __slots__ = ("rest_url", "bot_id", "custom_id", "context_id", "rest_nonce", "session_id",
                 "kind", "chat_url", "settings", "bots")
    _hidden = ("rest_nonce",)
    rest_url: Optional[str]
    bot_id: Optional[str]
    custom_id: Optional[str]
    context_id: Optional[Any]
    rest_nonce: Optional[str]
    session_id: Optional[str]
    kind: Optional[str]
    chat_url: Optional[str]
    settings: Optional[Dict[str, Any]]
    bots: Tuple[str, ...]


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

    @staticmethod
    def recognise(page: str) -> Optional[str]:
        """The chatbot container, a legacy page's script variables, or the script settings.

        >>> EngineProtocol.recognise("<p>no chatbot</p>") is None
        True
        >>> EngineProtocol.recognise("<div class='mwai-chatbot-container' data-system='{}'>")
        'an AI Engine chatbot container'
        """
        if any(a.get("data-system") for a in tags_with(page, "mwai-chatbot-container")):
            return "an AI Engine chatbot container"
        lower = page.lower()
        if "apiurl" in lower and page_era(page) == "legacy":
            return "a legacy [mwai_chat] chatbot (script variables restNonce, apiURL)"
        if "restnonce" in lower and "mwai" in lower:
            return "AI Engine script settings"
        return None

    def __init__(self, *, page_url: str, bot_id: Optional[str] = None, custom_id: Optional[str] = None,
                 rest_url: Optional[str] = None) -> None:
        self.page_url = page_url
        self.bot_id = bot_id
        self.custom_id = custom_id
        self.rest_url = rest_url.rstrip("/") if rest_url else None
        self._chat_salt = secrets.token_hex(8)
        #: The browser's random client id (eras C and legacy send it), one per client.
        self._client_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                                  for _ in range(10))

    # -- the nonce -----------------------------------------------------------------------

    def fetch_tokens(self, site: Site, stale: Any = None) -> EngineTokens:
        page: Optional[_PageSettings] = None
        if self.bot_id is None and self.rest_url is None:
            page = self._read_page(site, fresh=stale is not None)
            if page.kind in ("bot", "legacy"):  # eras before start_session: the page has it all
                return self._tokens_from_page(site, page, page.rest_url or site.base_url + "/wp-json")
        rest_url = self.rest_url or (page and page.rest_url) or site.base_url + "/wp-json"
        try:
            nonce, session_id = self._start_session(site, rest_url)
        except _RouteMissing:
            if page is None:
                page = self._read_page(site, fresh=stale is not None)
            if page.rest_url and page.rest_url.rstrip("/") != rest_url:
                rest_url = page.rest_url.rstrip("/")
                try:
                    nonce, session_id = self._start_session(site, rest_url)
                except _RouteMissing:
                    return self._tokens_from_page(site, page, rest_url)
            else:
                return self._tokens_from_page(site, page, rest_url)
        bot_id = self.bot_id or (page and page.bot_id) or "default"
        custom_id = self.custom_id or (page.custom_id if page else None)
        context_id = page.context_id if page else None
        log.debug("%s: nonce obtained from %s", site.name, rest_url)
        return EngineTokens(rest_url, nonce, session_id, bot_id, custom_id, context_id, "F")

    def _tokens_from_page(self, site: Site, page: _PageSettings, rest_url: str
                          ) -> EngineTokens:
        """Tokens for a site without ``start_session``: the era is what the page shows."""
        bot_id = self.bot_id or page.bot_id or "default"
        custom_id = self.custom_id or page.custom_id
        if page.kind == "legacy":
            assert page.chat_url is not None
            era = "legacy"
            chat_url = page.chat_url
        elif page.kind == "bot":
            era = "C"
            chat_url = rest_url + "/mwai-bot/v1/chat"
        elif page.kind == "ui":
            era = "E" if page.rest_nonce else "D"
            chat_url = ""
        else:
            self._no_chatbot(page, rest_url)
        log.debug("%s: %s era %s (%s)", site.name, self.plugin, era, ERAS[era])
        return EngineTokens(rest_url, page.rest_nonce, page.session_id, bot_id, custom_id,
                            page.context_id, era, chat_url, page.settings)

    def _start_session(self, site: Site, rest_url: str) -> Tuple[str, Optional[str]]:
        url = rest_url + "/mwai/v1/start_session"
        response = site.transport.request("POST", url)
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
            raise site.transport.http_error(response, what="start_session")
        raise errors.NonceError(
            f"Unable to extract restNonce from {url}: the JSON answer has none",
            url=url, status_code=status, body=response.content,
        )

    def _read_page(self, site: Site, *, fresh: bool = False) -> _PageSettings:
        """The chatbot settings on the page (all None when it has none)."""
        page = site.get_page(self.page_url, "the chatbot page", fresh=fresh)
        settings = self.settings_in(page)
        if settings.kind is None:
            log.info("%s: no AI Engine chatbot settings on %s; trying the default REST address",
                     site.name, self.page_url)
        return settings

    def settings_in(self, page: str) -> _PageSettings:
        """The chatbot settings in a page's HTML (``kind`` None when it shows none)."""
        bots = []
        for attrs in tags_with(page, "mwai-chatbot-container"):
            system = _json_attr(attrs.get("data-system"))
            if system is None:
                continue
            # Era C names the bot chatId (and a custom bot's id in id); later eras say botId.
            kind = "ui" if "botId" in system or "chatId" not in system else "bot"
            bot_id = system.get("botId") if kind == "ui" else system.get("chatId")
            if bot_id is not None:
                bots.append(str(bot_id))
            if self.bot_id is not None and bot_id is not None and str(bot_id) != str(self.bot_id):
                continue
            return _PageSettings(
                rest_url=_address(self.page_url, system.get("restUrl")),
                bot_id=str(bot_id) if bot_id is not None else None,
                custom_id=(system.get("customId") if kind == "ui" else system.get("id")) or None,
                context_id=system.get("contextId"),
                rest_nonce=_text(system.get("restNonce")),
                session_id=system.get("sessionId") or None,
                kind=kind, chat_url=None, settings=None, bots=tuple(bots),
            )
        legacy = self._legacy_page(page)
        if legacy is not None or bots:  # bots, but not the one asked for
            return legacy or _PageSettings(None, None, None, None, None, None, None, None, None,
                                           tuple(bots))
        # Some releases printed the data-system settings in an inline script.
        if "&quot;" in page:
            import html

            page = html.unescape(page)
        nonce = find_script_value(page, "restNonce")
        rest_url = find_script_value(page, "restUrl")
        bot_id = find_script_value(page, "botId")
        if nonce or rest_url:
            return _PageSettings(_address(self.page_url, rest_url), bot_id or None, None, None,
                                 nonce or None, None, "ui", None, None, tuple(bots))
        return _PageSettings(None, None, None, None, None, None, None, None, None, tuple(bots))

    def _legacy_page(self, page: str) -> Optional[_PageSettings]:
        """The legacy ``[mwai_chat]`` page: ``let apiURL = '...'`` and the settings beside it."""
        chat_url = _address(self.page_url, find_script_variable(page, "apiURL"))
        if chat_url is None or find_script_variable(page, "restNonce") is None:
            return None
        settings: Dict[str, Any] = {}
        for name, default in _LEGACY_SETTINGS:
            value = find_script_variable(page, name)
            settings[name] = default if value is None else _js_literal(value, default)
        session = find_script_variable(page, "sessionId") or find_script_variable(page, "session")
        rest_url = chat_url.rstrip("/").rsplit("/", 3)[0]  # .../wp-json from .../wp-json/x/v1/chat
        return _PageSettings(rest_url, None, None, None, find_script_variable(page, "restNonce") or None,
                             session or None, "legacy", chat_url, settings, ())

    def _no_chatbot(self, page: _PageSettings, rest_url: str) -> NoReturn:
        if self.bot_id is not None and page.bots:
            raise errors.NonceError(
                f"{self.page_url} shows no AI Engine bot {self.bot_id!r}; it shows "
                f"{', '.join(map(repr, dict.fromkeys(page.bots)))}: pass bot_id= one of them",
                url=self.page_url,
            )
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

    def send(self, site: Site, turn: Turn) -> requests.Response:
        tokens: EngineTokens = turn.tokens
        conversation, reply = turn.conversation, turn.reply
        reply.chat_id = chat_id = self.chat_id(conversation, reply)
        history = [{"role": role, "content": content} for role, content in conversation.history]
        body: Dict[str, Any]
        if tokens.era == "legacy":
            body = self._legacy_body(tokens, conversation)
        elif tokens.era == "C":
            body = {"id": tokens.custom_id, "chatId": tokens.bot_id, "session": tokens.session_id,
                    "clientId": self._client_id, "contextId": tokens.context_id,
                    "messages": history, "newMessage": conversation.prompt_with_system}
        else:
            body = {"botId": tokens.bot_id, "customId": tokens.custom_id,
                    "session": tokens.session_id, "chatId": chat_id,
                    "contextId": tokens.context_id, "messages": history,
                    "newMessage": conversation.prompt_with_system, "newFileId": None,
                    "stream": True}
        streams = tokens.era not in ("legacy", "C")
        headers = {"Content-Type": "application/json",
                   "Accept": "text/event-stream" if streams else "application/json"}
        # A guest of era D has no nonce, and a wrong one is refused: send the header only
        # with a nonce, as the plugin's own script does.
        return site.transport.request(
            "POST", tokens.chat_url, stream=True, headers=headers,
            secret_headers={"X-WP-Nonce": tokens.nonce} if tokens.nonce else None,
            data=json.dumps(body).encode("utf-8"),
        )

    def _legacy_body(self, tokens: EngineTokens, conversation: ParsedMessages) -> Dict[str, Any]:
        """The legacy page's body: its settings, the messages, and the transcript ``prompt``
        its script builds (the context line, ``userName``/``aiName`` lines, then ``aiName``)."""
        settings = dict(tokens.settings or {})
        user, ai = str(settings.get("userName", "")), str(settings.get("aiName", ""))
        turns = [*conversation.history, ("user", conversation.prompt_with_system)]
        lines = [str(settings["context"])] if settings.get("context") else []
        lines += [(user if role == "user" else ai) + content for role, content in turns]
        return {
            "env": settings.pop("env", "chatbot"), "session": tokens.session_id,
            "prompt": "\n".join(lines) + "\n" + ai,
            "context": settings.pop("context", ""),
            "messages": [{"role": role, "content": content, "who": user if role == "user" else ai}
                         for role, content in turns],
            "newMessage": conversation.prompt_with_system, **settings,
            "clientId": self._client_id,
        }

    def raise_for_answer(self, site: Site, turn: Turn, response: requests.Response) -> NoReturn:
        tokens = turn.tokens
        data = json_or_none(site.transport.read_body(response))
        status = response.status_code
        if status == 404 and isinstance(tokens, EngineTokens):
            where = "the page's apiURL" if tokens.era == "legacy" else f"era {tokens.era}: {ERAS[tokens.era]}"
            raise errors.UnsupportedSiteError(
                f"the chat route {response.url} ({where}) answered HTTP 404: the site has no "
                "such route (the plugin may have been updated, downgraded or removed since "
                "the page was made, or a cache serves an old page); pass page= a page that "
                "shows the chatbot now",
                url=response.url, status_code=status, body=response.content,
            )
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
        raise site.transport.http_error(response, what="the message")

    def read_json(self, site: Site, turn: Turn, data: Any, response: requests.Response) -> str:
        tokens: EngineTokens = turn.tokens
        reply = turn.reply
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
        self._take_final(site, data, tokens, reply)
        return data["reply"]

    def read_events(self, site: Site, turn: Turn, events: Iterator[JsonEvent],
                    response: requests.Response) -> Generator[str, None, bool]:
        tokens: EngineTokens = turn.tokens
        reply = turn.reply
        for _, event, _ in events:
            if not isinstance(event, dict):
                log.debug("%s: skipping an event that is not a JSON object", site.name)
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
                rest = self._finish(site, final, tokens, reply, response)
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

    def _finish(self, site: Site, final: Any, tokens: EngineTokens, reply: Reply,
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
        self._take_final(site, final, tokens, reply)
        text = final.get("reply")
        if not isinstance(text, str):
            return ""
        if reply.streamed.is_prefix_of(text):
            return text[len(reply.streamed):]
        log.info("%s: the site's final reply differs from the streamed text (a server-side "
                 "filter changed it); complete() returns the final one", site.name)
        return ""

    def _take_final(self, site: Site, final: dict, tokens: EngineTokens, reply: Reply
                    ) -> None:
        if isinstance(final.get("reply"), str):
            reply.final_text = final["reply"]
        if isinstance(final.get("usage"), dict):
            reply.usage = final["usage"]
        if final.get("chatId"):
            reply.chat_id = str(final["chatId"])
        token = final.get("new_token")
        if isinstance(token, str) and token:
            log.debug("%s: the site rotated the nonce", site.name)
            site.replace_tokens(tokens, tokens._replace(nonce=token))


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

    plugin = EngineProtocol.plugin  # the plugin's name has one home: its protocol
    speaks = (EngineProtocol.plugin,)
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




def page_era(page: str, page_url: str = "/") -> Optional[str]:
    """The era (a key of :data:`ERAS`) a page shows: ``"C"``, ``"legacy"``, ``"E"`` (a nonce
    on the page), ``"D/F"`` (none: ``start_session`` decides), or None (no AI Engine bot).

    >>> page_era("<script>let restNonce = '0a1b2c3d4e'; let apiURL = '/wp-json/ai-chatbot/v1/chat';</script>")
    'legacy'
    >>> page_era("<div class='mwai-chatbot-container' data-system='{&quot;botId&quot;:1}'>")
    'D/F'
    """
    settings = EngineProtocol(page_url=page_url).settings_in(page)
    if settings.kind == "ui":
        return "E" if settings.rest_nonce else "D/F"
    return {"bot": "C", "legacy": "legacy"}.get(settings.kind or "")


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


def _js_literal(value: str, default: Any) -> Any:
    """A legacy page setting as its script holds it: a number stays a number."""
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        try:
            number = float(value)
        except ValueError:
            return default
        return int(number) if isinstance(default, int) and number.is_integer() else number
    return value


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
