"""AI Power ("wpaicg") chatbots, 1.8.80 to 2.2: :class:`PowerProtocol`, the :class:`AIPower`
client and the ``ChatGptt`` preset.

Protocol (``docs/protocols/ai-power.md``, plugin 1.8.80 to 2.2): the nonce, post id and
bot settings are scraped from the page that shows the chatbot; the message is a form POST
to ``admin-ajax.php``; the site answers JSON or, when its settings say so, an SSE stream of
OpenAI chunks.
"""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
import string
from typing import Any, ClassVar, Dict, Generator, Iterator, List, NoReturn, Optional, Union
from urllib.parse import urlencode

import requests

from .. import errors
from ..core.http_errors import looks_like_cloudflare_challenge
from ..core.messages import ParsedMessages
from ..core.protocol import NonceRefused, Protocol
from ..core.provider import ChatProvider
from ..core.record import Record
from ..core.redirects import origin
from ..core.scrape import find_script_value, script_version, tags_with
from ..core.site import Site, Turn
from ..core.sse import JsonEvent
from .aipkit import DEFAULT_MAX_MESSAGES, AIPKitProtocol, AIPKitTokens, find_aipkit_bots

__all__ = ["AIPower", "ChatGptt", "PowerProtocol", "PowerTokens", "power_version"]

log = logging.getLogger("chatgpt_providers")

_ACTIONS = {"shortcode": "wpaicg_chat_shortcode_message", "widget": "wpaicg_chatbox_message"}
_NONCE_FAILURES = ("nonce verification failed", "invalid nonce")
_EXPIRED_LINK = "the link you followed has expired"
# A plugin-written word whose text held a quote, so the line is not JSON.
_BROKEN_WORD = r'^\{"choices":\[\{"delta":\{"content":"(.*)"\}\}\]\}$'
_CLIENT_ID_ALPHABET = string.ascii_letters + string.digits


class PowerTokens(Record):
    """What a chat request needs from the page: the nonce and the chatbot's settings.

    >>> PowerTokens("0a1b2c3d4e", "58", "https://s/", "4", "shortcode", "https://s/a.php").identity
    'custom_bot_4'
    """

    __slots__ = ("nonce", "post_id", "page_url", "bot_id", "chat_type", "ajax_url")
    _hidden = ("nonce",)
    nonce: str
    post_id: str
    page_url: str
    bot_id: str
    chat_type: str
    ajax_url: str

    @property
    def identity(self) -> str:
        """``chatbot_identity``: ``custom_bot_<id>`` for a custom bot, else the type."""
        return f"custom_bot_{self.bot_id}" if self.bot_id not in ("", "0") else self.chat_type


class PowerProtocol(Protocol):
    """The legacy AI Power protocol (1.8.80 to 2.2) for the chatbot on one page.

    >>> PowerProtocol(page_url="https://s.example/chat/").bot_id is None
    True

    With a ``successor`` (the 2.3+ protocol for the same page), the page decides at each read
    which generation speaks: a page showing a 2.3+ bot (the one asked for, if any) gives
    :class:`~chatgpt_providers.protocols.aipkit.AIPKitTokens`, and :meth:`speaker` hands those
    to the successor, so a client keeps working when its site upgrades (or goes back).
    """

    plugin = "AI Power"
    end_marker = "[DONE]"

    @staticmethod
    def recognise(page: str) -> Optional[str]:
        """The ``wpaicg`` chatbot containers with a nonce, or the ``wpaicgParams`` settings.

        >>> PowerProtocol.recognise('<div class="wpaicg-chat-shortcode" data-nonce="0a1b2c3d4e">')
        '1 AI Power chatbot container(s): shortcode'
        """
        containers = [a for a in tags_with(page, "wpaicg-chat") if a.get("data-nonce")]
        if containers:
            kinds = sorted({a.get("data-type") or "shortcode" for a in containers})
            return f"{len(containers)} AI Power chatbot container(s): {', '.join(kinds)}"
        if find_script_value(page, "search_nonce"):
            return "the AI Power script settings (wpaicgParams)"
        return None

    @staticmethod
    def page_version(page: str) -> Optional[str]:
        return power_version(page)

    def __init__(self, *, page_url: str, bot_id: Optional[str] = None,
                 successor: Optional[AIPKitProtocol] = None) -> None:
        self.page_url = page_url
        self.bot_id = bot_id
        #: The 2.3+ protocol for the same page, followed when the page shows it.
        self.successor = successor
        #: ``wpaicg_chat_client_id``: stable per instance, as the site's quotas key on it.
        self.client_id = new_client_id()

    # -- the nonce -----------------------------------------------------------------------

    def fetch_tokens(self, site: Site, stale: Any = None) -> Union[PowerTokens, AIPKitTokens]:
        successor = self.successor
        if successor is not None and isinstance(stale, AIPKitTokens):
            fresh = successor.refresh_nonce(site, stale)
            if fresh is not None:
                return fresh
        page = site.get_page(self.page_url, "the chatbot page", fresh=stale is not None)
        if successor is not None:
            bots = {bot["bot_id"] for bot in find_aipkit_bots(page)}
            if bots and (self.bot_id is None or self.bot_id in bots):
                return successor.tokens_from_page(site, page)
        return self.tokens_from_page(site, page)

    def speaker(self, tokens: Any) -> Protocol:
        """The successor for 2.3+ tokens, else this protocol.

        >>> from chatgpt_providers.protocols.aipkit import AIPKitProtocol
        >>> power = PowerProtocol(page_url="/", successor=AIPKitProtocol(page_url="/"))
        >>> power.speaker(None) is power
        True
        """
        if self.successor is not None and isinstance(tokens, AIPKitTokens):
            return self.successor
        return self

    def check(self, conversation: ParsedMessages, chat_id: Optional[str]) -> None:
        if self.successor is not None:  # both generations take "0" as empty; 2.3+ checks more
            self.successor.check(conversation, chat_id)

    def tokens_from_page(self, site: Site, page: str) -> PowerTokens:
        """Read the nonce and the chatbot's settings from the page's HTML."""
        containers = [a for a in tags_with(page, "wpaicg-chat") if a.get("data-nonce")]
        shown = sorted({a.get("data-bot-id", "0") for a in containers})
        if self.bot_id is not None:
            containers = [a for a in containers if a.get("data-bot-id", "0") == self.bot_id]
        ajax_url = self._ajax_url(site, page)
        if containers:
            chosen = min(containers, key=lambda a: _container_type(a) != "shortcode")
            return PowerTokens(
                nonce=chosen["data-nonce"].strip(),
                post_id="".join(ch for ch in chosen.get("data-post-id", "") if ch.isdigit()),
                page_url=_header_safe(chosen.get("data-url") or "", self.page_url),
                bot_id=(chosen.get("data-bot-id") or "0").strip(),
                chat_type=_container_type(chosen),
                ajax_url=ajax_url,
            )
        nonce = find_script_value(page, "search_nonce")
        if nonce and self.bot_id in (None, "0"):
            return PowerTokens(nonce, "", _header_safe(self.page_url, ""), "0", "shortcode", ajax_url)
        looked_for = "data-nonce in a wpaicg-chat-shortcode/wpaicg-chatbox container"
        if self.bot_id is not None:
            looked_for += f" with data-bot-id={self.bot_id!r}"
        if self.bot_id is not None and shown:
            raise errors.NonceError(
                f"{self.page_url} shows no AI Power bot {self.bot_id!r}; it shows "
                f"{', '.join(map(repr, shown))}: pass bot_id= one of them",
                url=self.page_url,
            )
        raise errors.NonceError(
            f"Unable to extract the AI Power nonce ({looked_for}, or wpaicgParams.search_nonce) "
            f"from {self.page_url}; pass page= the address of a page that shows the chatbot",
            url=self.page_url, body=page,
        )

    def _ajax_url(self, site: Site, page: str) -> str:
        default = site.base_url + "/wp-admin/admin-ajax.php"
        found = find_script_value(page, "ajax_url")
        # Only trust a script's address on this very site: the nonce goes there.
        if found and origin(found) == origin(default):
            return found
        return default

    # -- a message -----------------------------------------------------------------------

    def send(self, site: Site, turn: Turn) -> requests.Response:
        tokens: PowerTokens = turn.tokens
        conversation, reply = turn.conversation, turn.reply
        form = {
            "_wpnonce": tokens.nonce,
            "post_id": tokens.post_id,
            "url": tokens.page_url,
            "action": _ACTIONS.get(tokens.chat_type, _ACTIONS["shortcode"]),
            "message": conversation.prompt_with_system,
            "bot_id": tokens.bot_id,
            "chatbot_identity": tokens.identity,
            "wpaicg_chat_client_id": reply.chat_id or self.client_id,
            "wpaicg_chat_history": history_field(conversation),
            "chat_id": str(random.randint(10**6, 10**9)),
        }
        return site.transport.request(
            "POST", tokens.ajax_url, stream=True,
            headers={"Accept": "text/event-stream, application/json, */*",
                     "Content-Type": "application/x-www-form-urlencoded",
                     "Referer": tokens.page_url, "X-Requested-With": "XMLHttpRequest"},
            data=urlencode(form).encode("ascii"),
        )

    def raise_for_answer(self, site: Site, turn: Turn, response: requests.Response) -> NoReturn:
        body = site.transport.read_body(response)
        text = body.decode("utf-8", "replace")
        status = response.status_code
        if status == 403 and _EXPIRED_LINK in text.lower() and not looks_like_cloudflare_challenge(
                response, text):
            raise NonceRefused(response, "HTTP 403 'The link you followed has expired.'")
        if status == 400 and text.strip() == "0":
            # The site no longer knows the legacy actions: it upgraded to 2.3+ (or dropped the
            # plugin). Reading the page again finds out which.
            raise NonceRefused(response, "HTTP 400 '0': the legacy AI Power actions are gone",
                               repeated=errors.UnsupportedSiteError(
                f"{response.url} has no legacy AI Power chatbot: the plugin is missing, or the "
                "site runs AI Power 2.3+ while a stale page cache still shows the old chatbot; "
                "try again later or use connect() on the chatbot's page",
                url=response.url, status_code=status, body=body,
            ))
        if status == 200:
            raise errors.ResponseError(
                f"{response.url} answered with "
                f"{response.headers.get('content-type') or 'no content type'} where JSON or "
                "an event stream was due; is this an AI Power site?",
                url=response.url, status_code=status, body=body,
            )
        raise site.transport.http_error(response, what="the message")

    def read_json(self, site: Site, turn: Turn, data: Any, response: requests.Response) -> str:
        if not isinstance(data, dict):
            raise errors.ResponseError(
                f"{response.url} sent a JSON answer that is not an object",
                url=response.url, status_code=response.status_code, body=response.content,
            )
        text = _json_outcome(data, response)
        if text is None:
            raise errors.ResponseError(
                f"{response.url} sent JSON with neither an answer nor an error",
                url=response.url, status_code=response.status_code, body=response.content,
            )
        return text

    def read_events(self, site: Site, turn: Turn, events: Iterator[JsonEvent],
                    response: requests.Response) -> Generator[str, None, bool]:
        held: List[str] = []  # words the plugin wrote itself: an upstream error, or not
        plugin_stop = finished = False
        for _, event, data in events:
            if event is None:
                if data == "[DONE]":
                    if held:
                        yield "".join(held)
                    return True
                if data == "[LIMITED]":
                    raise _upstream_error(held, response, "the site's AI backend failed")
                broken = re.match(_BROKEN_WORD, data or "", re.DOTALL)
                if broken:
                    held.append(broken.group(1))
                else:
                    log.debug("%s: skipping an event that is not JSON", site.name)
                continue
            if not isinstance(event, dict):
                continue
            if "choices" not in event:
                if _flag(event) or event.get("status") == "error":
                    raise _site_error(event, response)
                continue
            choices = event["choices"]
            if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
                continue
            choice = choices[0]
            delta = choice.get("delta")
            text = delta.get("content") if isinstance(delta, dict) else None
            if text is None:
                text = choice.get("text")
            if "index" not in choice and "id" not in event:
                # Written by the plugin, not passed through from OpenAI: hold it until
                # the stream says whether it was an answer ([DONE]) or an error.
                if isinstance(text, str):
                    held.append(text)
                if choice.get("finish_reason"):
                    plugin_stop = True
                continue
            if held:
                yield "".join(held)
                held = []
            if isinstance(text, str) and text:
                yield text
            if choice.get("finish_reason"):
                finished = True
        if finished and not held:
            return True
        if held or plugin_stop:
            raise _upstream_error(held, response, "the site's AI backend reported an error")
        return False


class AIPower(ChatProvider):
    """A chatbot on any WordPress site running the AI Power plugin, of any generation: the
    legacy protocol (1.8.80 to 2.2) or 2.3+ ("AIPKit"), whichever the page shows.

    >>> from chatgpt_providers import AIPower
    >>> bot = AIPower("https://site.example", page="/chat/")   # the page with the chatbot
    >>> bot.complete("Hi")                                       # doctest: +SKIP
    'Hello! How can I assist you today?'

    ``bot_id`` picks one of several chatbots on the page (by ``data-bot-id``); by default a
    2.3+ page's first bot, or a legacy page's shortcode bot, else its widget. When the site
    upgrades (or a page cache expires), the next message reads the page again and speaks the
    generation it now shows. ``max_messages``: the 2.3+ bot's setting of that name, see
    :class:`~chatgpt_providers.AIPKit`.
    """

    plugin = PowerProtocol.plugin  # the plugins' names have one home: their protocols
    speaks = (PowerProtocol.plugin, AIPKitProtocol.plugin)
    models: ClassVar = ["gpt-4o", "gpt-4", "gpt-4o-mini"]
    default_model: ClassVar = "gpt-4o"
    #: The page that shows the chatbot, for presets.
    default_page: ClassVar[str] = "/"
    protocol: PowerProtocol

    def __init__(self, base_url: Optional[str] = None, *, page: Optional[str] = None,
                 bot_id: Union[str, int, None] = None, max_messages: int = DEFAULT_MAX_MESSAGES,
                 **options: Any) -> None:
        super().__init__(base_url, **options)
        page_url = self._page_url(page or type(self).default_page)
        bot = None if bot_id is None else str(bot_id)
        self.protocol = PowerProtocol(
            page_url=page_url, bot_id=bot,
            successor=AIPKitProtocol(page_url=page_url, bot_id=bot, max_messages=max_messages))

    @property
    def client_id(self) -> str:
        """``wpaicg_chat_client_id`` of stateless calls to a legacy site: stable per instance."""
        return self.protocol.client_id

    def new_chat_id(self) -> str:
        """A ``wpaicg_chat_client_id``: 10 letters and digits (the conversation's id here).

        >>> chat_id = AIPower("https://site.example").new_chat_id()
        >>> len(chat_id), chat_id.isalnum()
        (10, True)
        """
        return new_client_id()


def history_field(conversation: ParsedMessages) -> str:
    """``wpaicg_chat_history`` for the earlier turns, made to survive the server.

    The server strips every backslash before decoding, so the JSON must contain none:
    quotes become typographic quotes, line breaks and control characters spaces,
    backslashes slashes, and non-ASCII text is sent as is.

    >>> from chatgpt_providers.core.messages import parse_messages
    >>> conv = parse_messages([{"role": "user", "content": 'Say "hi"\\nplease'},
    ...                        {"role": "assistant", "content": "hi"},
    ...                        {"role": "user", "content": "again"}])
    >>> json.loads(history_field(conv).replace("\\\\", ""))[0]["text"]
    'Human: Say ”hi” please'
    """
    items = []
    for role, content in conversation.history:
        speaker = "Human" if role == "user" else "AI"
        items.append({"id": random.randint(1000, 99999), "text": f"{speaker}: {_unescaped(content)}"})
    return json.dumps(items, ensure_ascii=False)


def _unescaped(text: str) -> str:
    text = text.replace("\\", "/").replace('"', "”")
    return "".join(" " if ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029" else ch
                   for ch in text)


def new_client_id() -> str:
    """A ``wpaicg_chat_client_id`` as the plugin's script makes one: 10 letters and digits.

    >>> len(new_client_id())
    10
    """
    return "".join(secrets.choice(_CLIENT_ID_ALPHABET) for _ in range(10))


def power_version(page: str) -> Optional[str]:
    """The legacy plugin's version from its script tag
    (``.../wp-ai-content-generator-public.js?ver=2.2``), if the page shows it.

    >>> power_version("<script src='/wp-content/plugins/gpt3-ai-content-generator/public/js/"
    ...               "wp-ai-content-generator-public.js?ver=1.9.8'></script>")
    '1.9.8'
    """
    return script_version(page, "wp-ai-content-generator-public.js")


def _json_outcome(data: Dict[str, Any], response: requests.Response) -> Optional[str]:
    """The answer in a JSON body; raises for an error body; None when it is neither."""
    status = data.get("status")
    message = str(data.get("msg") or "")
    if status == "error" and any(f in message.lower() for f in _NONCE_FAILURES):
        raise NonceRefused(response, f"{message!r}")
    if status == "error" or _flag(data):
        raise _site_error(data, response)
    if status == "success":
        answer = data.get("data")
        if isinstance(answer, (int, float)) and not isinstance(answer, bool):
            return str(answer)  # "data": 4 for "2+2?"
        if not isinstance(answer, str):
            raise errors.ResponseError(
                f"{response.url} reported success without an answer (data is "
                f"{type(answer).__name__}); try again",
                url=response.url, status_code=response.status_code, body=response.content,
            )
        return answer
    return None


def _header_safe(url: str, fallback: str) -> str:
    """The page address a container names (else ``fallback``), percent-encoded where it
    would not survive a header (``Referer`` is Latin-1 and has no control characters).

    >>> _header_safe("https://s.example/чат/", "https://s.example/")
    'https://s.example/%D1%87%D0%B0%D1%82/'
    >>> _header_safe(" ", "https://s.example/a b/")
    'https://s.example/a%20b/'
    """
    url = url.strip() or fallback.strip()
    if url.isascii() and url.isprintable() and " " not in url:
        return url
    from urllib.parse import quote

    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def _container_type(attrs: Dict[str, str]) -> str:
    declared = attrs.get("data-type", "").strip().lower()
    if declared in _ACTIONS:
        return declared
    return "shortcode" if "wpaicg-chat-shortcode" in attrs.get("class", "") else "widget"


def _flag(event: Dict[str, Any]) -> Optional[str]:
    for name in ("tokenLimitReached", "ipBanned", "messageFlagged", "modflag", "pineconeError"):
        if event.get(name):
            return name
    return None


def _site_error(event: Dict[str, Any], response: requests.Response) -> errors.ProviderError:
    """The typed error for an AI Power error body or flag event."""
    flag = _flag(event)
    message = str(event.get("msg") or "no reason given")
    fields: Dict[str, Any] = dict(url=response.url, status_code=response.status_code,
                                  body=json.dumps(event))
    lower = message.lower()
    if flag == "tokenLimitReached":
        return errors.RateLimitError(
            f"the site's usage quota for this client is used up: {message!r}; try later or "
            "with a new client", retry_after=None, **fields)
    if flag == "ipBanned" or "not allowed to access" in lower:
        return errors.BlockedError(
            f"the site blocks this IP address: {message!r}; try from another network or "
            "through proxy=", **fields)
    if flag in ("messageFlagged", "modflag") or "prohibited" in lower or "nothing was inputted" in lower:
        return errors.RejectedError(
            f"the chatbot rejected this message: {message!r}; rephrase it", **fields)
    return errors.ServerError(f"the chatbot failed: {message!r}; try again later", **fields)


def _upstream_error(words: List[str], response: requests.Response, fallback: str
                   ) -> errors.ServerError:
    message = "".join(words).strip() or fallback
    return errors.ServerError(
        f"the site's AI backend reported an error: {message!r}; try again later",
        url=response.url, status_code=response.status_code,
    )


class ChatGptt(AIPower):
    """chatgptt.me, an AI Power site: the chatbot on its home page.

    >>> from chatgpt_providers import ChatGptt
    >>> ChatGptt().url, ChatGptt(base_url="http://127.0.0.1:8080").page_url
    ('https://chatgptt.me', 'http://127.0.0.1:8080/')
    """

    url = "https://chatgptt.me"
    models: ClassVar = ["gpt-4o", "gpt-4", "gpt-4o-mini"]
    default_model: ClassVar = "gpt-4o"
