"""AI Power 2.3+ ("AIPKit", now "AI Puffer") chatbots: :class:`AIPKitProtocol` and the
:class:`AIPKit` client.

Protocol (``docs/protocols/aipkit.md``): the nonce, bot and ``admin-ajax.php`` address sit in
the JSON ``data-config`` of the page's ``aipkit_chat_container`` (or ``aipkit_popup_wrapper``).
Each message takes two requests over one kept-alive connection: a form POST caches it
(``aipkit_cache_sse_message`` -> a single-use ``cache_key``, valid 60 s), then a GET streams the
answer (``aipkit_frontend_chat_stream``) as SSE ``{"delta": ...}`` events ending with
``event: done``; errors are ``event: error``. The server keeps the history under the client's
``session_id`` and ``conversation_uuid``.

Size: the wire and the conversation ownership (which conversation a call may continue, what
``prepare`` takes and ``release`` settles, kept per client under overlapping calls) read the
same records in the same steps of a message, so they are one module.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import string
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any, ClassVar, Dict, Generator, Iterable, Iterator, List, NoReturn, Optional, Tuple, Union
from urllib.parse import urlencode, urlsplit

import requests

from .. import errors
from ..core.messages import ParsedMessages
from ..core.protocol import NonceRefused, PreparedExpired, Protocol
from ..core.provider import ChatProvider
from ..core.record import Record
from ..core.results import Reply
from ..core.scrape import script_version, tags_with
from ..core.site import Site, Turn
from ..core.sse import JsonEvent, json_or_none

__all__ = ["AIPKit", "AIPKitProtocol", "AIPKitTokens", "find_aipkit_bots", "aipkit_version"]

log = logging.getLogger("chatgpt_providers")

#: Class tokens of an element that carries a bot's ``data-config``.
CONTAINER_CLASSES = ("aipkit_chat_container", "aipkit_popup_wrapper")
#: The plugin's own script (its stylesheet's ``ver`` is a file time, not the version).
_PLUGIN_SCRIPT = "gpt3-ai-content-generator/dist/js/public-main"
#: Conversations remembered per client for continuing stateless calls natively.
_MAX_CONVERSATIONS = 256
#: The plugin's default for a bot's ``max_messages``: logged messages sent upstream.
DEFAULT_MAX_MESSAGES = 15
#: Conversation ids remembered as used (a used id is never the start of a new conversation).
_MAX_USED = 4096
#: What the server keeps of a conversation_uuid unchanged: lower-case [a-z0-9_-], 36 at most.
_SERVER_ID = re.compile(r"[a-z0-9_-]{1,36}")
_BASE36 = string.ascii_lowercase + string.digits
_CACHE_GONE = ("message cache key is missing", "message not found in cache", "cached message has expired")
_SECURITY = "security check failed"

#: A conversation as the caller sees it: the system message and the earlier turns.
Transcript = Tuple[str, Tuple[Tuple[str, str], ...]]


def transcript_digest(system: str, history: Iterable[Tuple[str, str]],
                      *more: Tuple[str, List[str]]) -> str:
    """A digest that stands for a transcript (a client remembers what each conversation holds
    in constant memory, however long the conversation). ``more`` adds turns given as pieces,
    hashed without joining them (benchmark row 5: a long reply is not copied to be hashed).

    >>> transcript_digest("", (("user", "Hi"), ("assistant", "Hello"))) == transcript_digest(
    ...     "", (("user", "Hi"),), ("assistant", ["Hel", "lo"]))
    True
    """
    digest = hashlib.sha256()
    turns = [("system", [system])] + [(role, [content]) for role, content in history] + list(more)
    for role, pieces in turns:
        digest.update(f"{role}\0{sum(map(len, pieces))}\0".encode())
        for piece in pieces:
            digest.update(piece.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class AIPKitTokens(Record):
    """What a message needs from the page: the nonce, the bot and where to send.

    >>> tokens = AIPKitTokens("054d4dd8dd", "https://s/wp-admin/admin-ajax.php", "5", "7", "2.4.71")
    >>> "054d4dd8dd" in repr(tokens), tokens.bot_id
    (False, '5')
    """

    __slots__ = ("nonce", "ajax_url", "bot_id", "post_id", "version")
    _hidden = ("nonce",)
    nonce: str
    ajax_url: str
    bot_id: str
    post_id: str
    version: Optional[str]


class _Held(Record):
    """A conversation this client may continue: the digest of the transcript the server
    holds under it, and how many messages (the caller's and the bot's) it logged."""

    __slots__ = ("digest", "messages")
    digest: str
    messages: int


#: A conversation's key in a client's memory: (caller, transcript digest).
_Key = Tuple[Optional[str], str]


class _Prepared(Record):
    """One message on its way: its conversation, the caller's new message and earlier turns,
    the cache key of what was sent, and how far it got.

    ``held`` is what the conversation held when this turn took it (None for a new one);
    while a turn has a conversation, no other call can continue it. ``state`` says what the
    site did with the message: ``"cached"`` (not logged yet), ``"sent"`` (the stream
    request went out: the site may have logged it), ``"refused"`` (refused before anything
    was logged) or ``"done"`` (answered whole).
    """

    __slots__ = ("conversation_uuid", "prompt", "transcript", "cache_key", "caller", "held", "state")
    conversation_uuid: str
    prompt: str
    transcript: Transcript  # the system message and earlier turns the message was sent with
    cache_key: str
    caller: Optional[str]
    held: Optional[_Held]
    state: str


def find_aipkit_bots(page: str) -> List[Dict[str, Any]]:
    """Every 2.3+ bot on a page, in document order: ``{"bot_id", "config"}`` for each element
    with class ``aipkit_chat_container`` or ``aipkit_popup_wrapper`` and a ``data-config``.

    >>> page = ('<div class="aipkit_chat_container  x" data-bot-id="5" '
    ...         'data-config=\\'{&quot;botId&quot;:5,&quot;nonce&quot;:&quot;054d4dd8dd&quot;}\\'>')
    >>> find_aipkit_bots(page)[0]["bot_id"]
    '5'
    >>> find_aipkit_bots('<a href="/aipkit-chat/">chat</a>')
    []
    """
    bots = []
    for attrs in tags_with(page, "aipkit_"):
        classes = attrs.get("class", "").split()
        if not any(name in classes for name in CONTAINER_CLASSES) or "data-config" not in attrs:
            continue
        config = json_or_none(attrs["data-config"])
        if not isinstance(config, dict):
            continue
        bot_id = (attrs.get("data-bot-id") or "").strip() or str(config.get("botId") or "").strip()
        if bot_id:
            bots.append({"bot_id": bot_id, "config": config})
    return bots


def aipkit_version(page: str) -> Optional[str]:
    """The plugin version from its script tag (``...public-main.bundle.js?ver=2.4.71``), if the
    page shows it.

    >>> aipkit_version("<script src='/wp-content/plugins/gpt3-ai-content-generator/dist/js/"
    ...                "public-main.bundle.js?ver=2.4.71' id='aipkit-public-main-js'>")
    '2.4.71'
    """
    return script_version(page, _PLUGIN_SCRIPT)


class AIPKitProtocol(Protocol):
    """The AI Power 2.3+ protocol for the bot on one page (see the module docstring).

    One instance keeps a random guest ``session_id`` and the conversations it has had, so a
    call whose earlier turns are exactly a conversation's continues it on the server. The
    rules that keep conversations apart:

    - a conversation is continued by one call at a time: a call that would continue one
      another call is using starts its own, with the earlier turns written into its message;
    - calls of different callers (``Reply.caller``) never continue each other's;
    - once a message may have been logged without its answer arriving whole, the
      conversation is never continued again (the model would see that message twice);
    - a conversation with a system message is continued only while the site's history
      window (``max_messages``, the bot's setting) still shows its first message, which
      carries the system text; past that, the next call starts a new one.

    >>> protocol = AIPKitProtocol(page_url="https://s.example/chat/")
    >>> len(protocol.session_id), protocol.bot_id is None, protocol.max_messages
    (36, True, 15)
    """

    plugin = "AI Power 2.3+"
    end_marker = "done event"

    @staticmethod
    def recognise(page: str) -> Optional[str]:
        """The 2.3+ chatbot containers (with their bots).

        >>> AIPKitProtocol.recognise('<div class="aipkit_chat_container" data-bot-id="5" '
        ...                          'data-config="{&quot;nonce&quot;:&quot;x&quot;}">')
        '1 AI Power 2.3+ chatbot container(s) (bot 5)'
        """
        bots = find_aipkit_bots(page)
        if not bots:
            return None
        ids = ", ".join(dict.fromkeys(bot["bot_id"] for bot in bots))
        return f"{len(bots)} AI Power 2.3+ chatbot container(s) (bot {ids})"

    @staticmethod
    def page_version(page: str) -> Optional[str]:
        return aipkit_version(page)

    def __init__(self, *, page_url: str, bot_id: Optional[str] = None,
                 max_messages: int = DEFAULT_MAX_MESSAGES) -> None:
        if isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 1:
            raise ValueError(f"max_messages must be a whole number >= 1 (the bot's setting on the "
                             f"site; default {DEFAULT_MAX_MESSAGES}); got {max_messages!r}")
        self.page_url = page_url
        self.bot_id = bot_id
        self.max_messages = max_messages
        #: The guest's id on the site: random per client (never derived from content).
        self.session_id = str(uuid.uuid4())
        self._lock = threading.Lock()
        #: conversation_uuid -> (caller, what it holds), for conversations no call is using
        #: (newest last); a call takes its conversation out while it runs
        self._held: OrderedDict[str, Tuple[Optional[str], _Held]] = OrderedDict()
        #: (caller, transcript digest) -> conversation_uuid, for stateless calls
        self._by_transcript: Dict[_Key, str] = {}
        #: every conversation_uuid this client has sent to (never started afresh again)
        self._used: OrderedDict[str, None] = OrderedDict()

    # -- the nonce -----------------------------------------------------------------------

    def fetch_tokens(self, site: Site, stale: Any = None) -> AIPKitTokens:
        if isinstance(stale, AIPKitTokens):
            fresh = self.refresh_nonce(site, stale)
            if fresh is not None:
                return fresh
        page = site.get_page(self.page_url, "the chatbot page", fresh=stale is not None)
        return self.tokens_from_page(site, page)

    def tokens_from_page(self, site: Site, page: str) -> AIPKitTokens:
        """Read the bot's nonce and settings from the page's HTML."""
        bots = find_aipkit_bots(page)
        chosen = bots[0] if bots and self.bot_id is None else None
        for bot in bots:
            if self.bot_id is not None and bot["bot_id"] == self.bot_id:
                chosen = bot
                break
        if chosen is None:
            found = sorted({bot["bot_id"] for bot in bots})
            what = f"bot {self.bot_id}" if self.bot_id is not None else "a chatbot"
            raise errors.NonceError(
                f"Unable to extract {what} (an aipkit_chat_container with data-config) from "
                f"{self.page_url}" + (f"; the page has bot(s) {', '.join(found)}: pass bot_id= one "
                                      "of them" if found else "; pass page= a page that shows the chatbot"),
                url=self.page_url,
            )
        config = chosen["config"]
        nonce = str(config.get("nonce") or "").strip()
        if not nonce:
            raise errors.NonceError(
                f"Unable to extract the nonce from the data-config of bot {chosen['bot_id']} on "
                f"{self.page_url}", url=self.page_url)
        post_id = str(config.get("postId") or "").strip()
        return AIPKitTokens(
            nonce=nonce,
            ajax_url=self._ajax_url(site, config.get("ajaxUrl")),
            bot_id=chosen["bot_id"],
            post_id=post_id if post_id.isdigit() and int(post_id) > 0 else "",
            version=aipkit_version(page),
        )

    def _ajax_url(self, site: Site, named: Any) -> str:
        """Where the bot's ``data-config`` sends messages (the site's admin-ajax.php by
        default). The transport refuses it when it is on another origin than the site."""
        default = site.base_url + "/wp-admin/admin-ajax.php"
        if not isinstance(named, str) or not named.strip():
            return default
        named = named.strip()
        try:
            named.encode("ascii")
        except UnicodeEncodeError:
            return default
        return named if urlsplit(named).scheme in ("http", "https") else default

    def refresh_nonce(self, site: Site, stale: AIPKitTokens) -> Optional[AIPKitTokens]:
        """A new nonce from ``aipkit_get_frontend_chat_nonce`` (2.3.41+); None when the site
        has no such action (the page is read again instead)."""
        response = site.transport.request(
            "POST", stale.ajax_url,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cache-Control": "no-cache"},
            data=urlencode({"action": "aipkit_get_frontend_chat_nonce", "bot_id": stale.bot_id}),
        )
        data = json_or_none(response.content)
        nonce = data.get("data", {}).get("nonce") if isinstance(data, dict) and isinstance(
            data.get("data"), dict) else None
        if response.status_code == 200 and isinstance(nonce, str) and nonce.strip():
            log.debug("%s: fetched a new nonce", site.name)
            return stale._replace(nonce=nonce.strip())
        if response.status_code == 400 and response.content.strip() == b"0":
            return None  # before 2.3.41: the page has the nonce
        if response.status_code == 403 and isinstance(data, dict) and _code(data) == "cors_denied":
            raise _refused_origin(response, data)
        if response.status_code != 200:
            raise site.transport.http_error(response, what="the nonce refresh")
        return None

    # -- a message -----------------------------------------------------------------------

    def check(self, conversation: ParsedMessages, chat_id: Optional[str]) -> None:
        """Refuse, before any traffic, a message the plugin would take as empty (``"0"``).

        >>> from chatgpt_providers.core.messages import parse_messages
        >>> AIPKitProtocol(page_url="https://s.example/").check(parse_messages("0"), None)
        Traceback (most recent call last):
        ...
        ValueError: the message '0' counts as empty on AI Power 2.3+ sites, which refuse it; ...
        """
        # Only a new message "0" can be sent as "0"; anything else needs no plan (and no
        # hash of the history, which prepare() computes anyway).
        if conversation.prompt == "0" and self._plan(conversation, chat_id, None)[1] == "0":
            raise ValueError(
                "the message '0' counts as empty on AI Power 2.3+ sites, which refuse it; "
                "send something else, e.g. 'zero' or '0.'")

    def _plan(self, conversation: ParsedMessages, chat_id: Optional[str], caller: Optional[str],
              *, take: bool = False) -> Tuple[Optional[str], str, Transcript, Optional[_Held]]:
        """Where the message goes and what is sent: ``(conversation_uuid, message, transcript,
        held)``, the uuid None for a new conversation.

        A call of ``caller`` whose system message and earlier turns are exactly what the
        server holds for a conversation of that caller, which no other call is using and
        whose window still shows the system text, continues it, sending the new message
        alone; any other call starts a new conversation with those turns written into the
        message. ``take``: the call takes the conversation (see :meth:`release`).
        """
        transcript: Transcript = (conversation.system, conversation.history)
        digest = transcript_digest(*transcript)
        with self._lock:
            found = chat_id if chat_id is not None else self._by_transcript.get((caller, digest))
            entry = self._held.get(found) if found is not None else None
            if found is not None and entry is not None and entry[0] == caller \
                    and entry[1].digest == digest and self._within_window(conversation, entry[1]):
                held = entry[1]
                if take:
                    del self._held[found]
                    self._by_transcript.pop((caller, digest), None)
                return found, conversation.prompt, transcript, held
        return None, conversation.folded, transcript, None

    def _within_window(self, conversation: ParsedMessages, held: _Held) -> bool:
        """Whether the model still sees the system text when one more message is logged: it
        is in the conversation's first message, and the site sends the last
        ``max_messages`` logged messages upstream (counting the new one, to be safe)."""
        return not conversation.system or held.messages + 1 <= self.max_messages

    def _new_conversation(self, chat_id: Optional[str]) -> str:
        """The caller's id for a new conversation if it is a fresh one of the server's form,
        else a random v4 UUID (the server keeps history by this id: never reuse one)."""
        with self._lock:
            if chat_id and _SERVER_ID.fullmatch(chat_id) and chat_id not in self._used:
                fresh = chat_id
            else:
                fresh = str(uuid.uuid4())
            self._used[fresh] = None
            while len(self._used) > _MAX_USED:
                self._used.popitem(last=False)
        return fresh

    def prepare(self, site: Site, turn: Turn) -> _Prepared:
        tokens: AIPKitTokens = turn.tokens
        conversation, reply = turn.conversation, turn.reply
        conversation_uuid, message, transcript, held = self._plan(
            conversation, reply.chat_id, reply.caller, take=True)
        if conversation_uuid is None:
            conversation_uuid = self._new_conversation(reply.chat_id)
        prepared = _Prepared(conversation_uuid, conversation.prompt, transcript, "", reply.caller,
                             held, "cached")
        try:
            prepared.cache_key = self._cache(site, tokens, message)
        except BaseException:
            self.release(prepared, reply)  # caching logs nothing: the conversation is as it was
            raise
        reply.chat_id = conversation_uuid
        return prepared

    def _cache(self, site: Site, tokens: AIPKitTokens, message: str) -> str:
        """Cache the message on the site (the first request of two); its single-use key."""
        stamp = f"{int(time.time() * 1000)}-{''.join(secrets.choice(_BASE36) for _ in range(5))}"
        response = site.transport.request(
            "POST", tokens.ajax_url,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "application/json, */*;q=0.1"},
            data=urlencode({
                "action": "aipkit_cache_sse_message", "_ajax_nonce": tokens.nonce, "message": message,
                "bot_id": tokens.bot_id,
                "user_client_message_id": f"aipkit-client-msg-{tokens.bot_id}-{stamp}",
            }).encode("utf-8"),
        )
        data = json_or_none(response.content)
        answer = data.get("data") if isinstance(data, dict) else None
        key = answer.get("cache_key") if isinstance(answer, dict) else None
        if response.status_code == 200 and isinstance(key, str) and key:
            return key
        raise _cache_error(site, response, data)

    def send(self, site: Site, turn: Turn) -> requests.Response:
        tokens: AIPKitTokens = turn.tokens
        prepared: _Prepared = turn.prepared
        _conversation, _reply = turn.conversation, turn.reply
        # With the conversation id, the guest id reads the conversation back: keep it out of
        # every error and log line, as the nonce is.
        site.transport.hold_secret(self.session_id)
        query = {"action": "aipkit_frontend_chat_stream", "cache_key": prepared.cache_key,
                 "bot_id": tokens.bot_id, "session_id": self.session_id,
                 "conversation_uuid": prepared.conversation_uuid}
        if tokens.post_id:
            query["post_id"] = tokens.post_id
        query["_ts"] = str(int(time.time() * 1000))
        query["_ajax_nonce"] = tokens.nonce
        prepared.state = "sent"  # from here on, the site may log the message
        try:
            return site.transport.request(
                "GET", f"{tokens.ajax_url}?{urlencode(query)}", stream=True,
                headers={"Accept": "text/event-stream", "Cache-Control": "no-cache"},
            )
        except errors.NetworkError as exc:
            if exc.phase == "connect":
                prepared.state = "cached"  # no connection: nothing reached the site
            raise

    def raise_for_answer(self, site: Site, turn: Turn, response: requests.Response) -> NoReturn:
        body = site.transport.read_body(response)
        if response.status_code == 400 and body.strip() == b"0":
            raise _gone(response)
        if response.status_code == 200:
            raise errors.ResponseError(
                f"{response.url} answered with "
                f"{response.headers.get('content-type') or 'no content type'} where an event "
                "stream was due; is this an AI Power 2.3+ site?",
                url=response.url, status_code=200, body=body,
            )
        raise site.transport.http_error(response, what="the message")

    def read_json(self, site: Site, turn: Turn, data: Any, response: requests.Response) -> str:
        if isinstance(data, dict) and data.get("success") is False:
            raise _cache_error(site, response, data)
        return super().read_json(site, turn, data, response)

    def read_events(self, site: Site, turn: Turn, events: Iterator[JsonEvent],
                    response: requests.Response) -> Generator[str, None, bool]:
        prepared: _Prepared = turn.prepared
        reply = turn.reply
        started = False
        for name, event, data in events:
            if name is None:
                delta = event.get("delta") if isinstance(event, dict) else None
                if isinstance(delta, str):
                    started = True
                    if delta:
                        yield delta
                else:
                    log.debug("%s: skipping an unnamed event without a delta", site.name)
            elif name == "done":
                if isinstance(event, dict) and isinstance(event.get("citations"), list):
                    reply.citations = event["citations"]
                prepared.state = "done"
                return True
            elif name == "error":
                if not started:
                    prepared.state = "refused"  # refused before the upstream call
                raise _stream_error(event, data, response, started)
            elif name == "message_start":
                started = True
            elif name == "warning":
                text = str(event.get("error") if isinstance(event, dict) else data or "")
                log.warning("%s: the site warns: %s", site.name, text)
                reply.warnings.append(text)
            elif name == "citations":
                if isinstance(event, dict):
                    event = event.get("citations")
                reply.citations = event if isinstance(event, list) else reply.citations
            elif name == "display_form_event":
                raise errors.ResponseError(
                    f"the chatbot at {response.url} answered with a form to fill in instead "
                    "of text (an AI Power Pro chat form), which this client cannot fill",
                    url=response.url, status_code=response.status_code)
            else:  # status, openai_response_id, grounding_metadata, ...: not answer text
                log.debug("%s: %s event", site.name, name)
        return False

    def release(self, prepared: _Prepared, reply: Reply) -> None:
        """Give the turn's conversation back: holding the answered turn when the message was
        answered whole; as it was when nothing was logged; or never again, when the site may
        have logged the message without its answer (the model would see it twice)."""
        turn = prepared
        if turn.state == "done":
            system, history = turn.transcript
            answer = [reply.final_text] if reply.final_text is not None else reply.streamed.pieces()
            digest = transcript_digest(system, history, ("user", [turn.prompt]), ("assistant", answer))
            messages = (turn.held.messages if turn.held is not None else 0) + 2
            self._keep(turn.conversation_uuid, turn.caller, _Held(digest, messages))
        elif turn.state in ("cached", "refused") and turn.held is not None:
            self._keep(turn.conversation_uuid, turn.caller, turn.held)
        turn.held = None
        turn.state = "released"

    def _keep(self, conversation_uuid: str, caller: Optional[str], held: _Held) -> None:
        with self._lock:
            self._held[conversation_uuid] = (caller, held)
            self._by_transcript[(caller, held.digest)] = conversation_uuid
            while len(self._held) > _MAX_CONVERSATIONS:
                _, (old_caller, dropped) = self._held.popitem(last=False)
                self._by_transcript.pop((old_caller, dropped.digest), None)


class AIPKit(ChatProvider):
    """A chatbot on any WordPress site running AI Power 2.3 or later ("AIPKit", now "AI
    Puffer").

    >>> from chatgpt_providers import AIPKit
    >>> bot = AIPKit("https://site.example", page="/chat/")    # the page with the chatbot
    >>> bot.complete("Hi")                                       # doctest: +SKIP
    'Hello! How can I help you today?'

    ``bot_id`` picks one of several chatbots on the page (by ``data-bot-id``); by default the
    first in the page is used. The site keeps the conversation: a call whose earlier turns are
    what this client's conversation already sent and received continues it; any other list of
    earlier turns (or a system message) starts a new one, written into the new message.
    ``max_messages`` is the bot's setting of that name on the site (how many logged messages
    go to the model; the plugin's default is 15): a conversation with a system message is
    started afresh before its first message, which carries the system text, would slide out.
    :class:`~chatgpt_providers.AIPower` speaks this protocol too, when the page shows it.
    """

    plugin = AIPKitProtocol.plugin  # the plugin's name has one home: its protocol
    speaks = (AIPKitProtocol.plugin,)
    models: ClassVar = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"]
    default_model: ClassVar = "gpt-4o-mini"
    protocol: AIPKitProtocol

    def __init__(self, base_url: Optional[str] = None, *, page: str = "/",
                 bot_id: Union[str, int, None] = None, max_messages: int = DEFAULT_MAX_MESSAGES,
                 **options: Any) -> None:
        super().__init__(base_url, **options)
        self.protocol = AIPKitProtocol(page_url=self._page_url(page),
                                       bot_id=None if bot_id is None else str(bot_id),
                                       max_messages=max_messages)



    def new_chat_id(self) -> str:
        """A new ``conversation_uuid``: a random v4 UUID (never derived from content).

        >>> len(AIPKit("https://site.example").new_chat_id())
        36
        """
        return str(uuid.uuid4())


# -- errors ------------------------------------------------------------------------------

def _code(data: Dict[str, Any]) -> str:
    answer = data.get("data")
    return str(answer.get("code") or "") if isinstance(answer, dict) else ""


def _message(data: Any) -> str:
    answer = data.get("data") if isinstance(data, dict) else None
    return str(answer.get("message") or "") if isinstance(answer, dict) else ""


def _gone(response: requests.Response) -> NonceRefused:
    """HTTP 400 ``0``: the action is unknown there (the plugin was removed or downgraded)."""
    return NonceRefused(
        response, "HTTP 400 '0': the site does not know the AI Power 2.3+ actions",
        repeated=errors.UnsupportedSiteError(
            f"{response.url} does not speak AI Power 2.3+ (it answers HTTP 400 '0'): the plugin "
            "is inactive or older; check the site, or use connect() on the chatbot's page",
            url=response.url, status_code=response.status_code, body=response.content,
        ))


def _refused_origin(response: requests.Response, data: Dict[str, Any]) -> errors.BlockedError:
    return errors.BlockedError(
        f"the site refuses this client as a foreign embed ({_code(data)}: {_message(data)!r}); "
        "send no Origin header (pass headers= without one) and use the site's own address as "
        "base_url=", url=response.url, status_code=response.status_code, body=response.content)


def _cache_error(site: Site, response: requests.Response, data: Any) -> Exception:
    """The error for a cache step that gave no key."""
    status = response.status_code
    code = _code(data) if isinstance(data, dict) else ""
    message = _message(data)
    fields: Dict[str, Any] = dict(url=response.url, status_code=status, body=response.content)
    if code == "nonce_failure_cache_sse":
        return NonceRefused(response, f"HTTP {status} {code}")
    if code in ("embed_not_available", "cors_denied"):
        return _refused_origin(response, data)
    if code in ("empty_data_to_cache", "invalid_image_payload", "too_many_images",
                "invalid_image_type", "image_too_large"):
        return errors.RejectedError(f"the site refused the message ({code}: {message!r})", **fields)
    if status == 400 and response.content.strip() == b"0":
        return _gone(response)
    if status != 200 and not isinstance(data, dict):
        error = site.transport.http_error(response, what="the message")
        if status == 403 and not isinstance(error, errors.BlockedError):
            # WordPress's own refusal page ("The link you followed has expired."), as a page
            # cache or a security plugin serves it: the plugin's script refreshes the nonce.
            return NonceRefused(response, "HTTP 403 (an HTML page)")
        return error
    if status >= 500 or code == "sse_cache_db_insert_failed":
        return errors.ServerError(
            f"the site could not take the message ({code or 'HTTP ' + str(status)}: {message!r}); "
            "try again later", **fields)
    return errors.ResponseError(
        f"{response.url} gave no cache_key for the message (HTTP {status}"
        + (f", {code}: {message!r}" if code or message else "") + "); is this an AI Power 2.3+ site?",
        **fields)


def _stream_error(event: Any, data: Optional[str], response: requests.Response,
                  started: bool) -> Exception:
    """The error for an ``error`` event, by what the site said (``docs/protocols/aipkit.md``
    section 6.2)."""
    text = str(event.get("error") or "") if isinstance(event, dict) else str(data or "")
    lower = text.lower()
    fields: Dict[str, Any] = dict(url=response.url, status_code=response.status_code,
                                  body=data if data is not None else event)
    if not started and lower.startswith(_SECURITY):
        return NonceRefused(response, f"the stream said {text!r}")
    if not started and any(lower.startswith(words) for words in _CACHE_GONE):
        return PreparedExpired(errors.ResponseError(
            f"the site lost the cached message ({text!r}) twice; try again", **fields))
    if "not permitted to access" in lower:
        return errors.BlockedError(
            f"the site refuses this client as a foreign embed: {text!r}; use the site's own "
            "address as base_url= and send no Origin header", **fields)
    if isinstance(event, dict) and isinstance(event.get("quota_notice"), dict):
        return errors.RateLimitError(
            f"the site's quota for this visitor is used up: {text!r}; try later or with a new "
            "client", retry_after=None, **fields)
    if "disabled for guests" in lower:
        return errors.BlockedError(
            f"the chatbot is closed to visitors who are not logged in: {text!r}", **fields)
    if "ip address" in lower and ("block" in lower or "ban" in lower):
        return errors.BlockedError(
            f"the site blocks this IP address: {text!r}; try from another network or through "
            "proxy=", **fields)
    if lower.startswith(("invalid chatbot", "conversation id is missing", "session id is missing")):
        return errors.ResponseError(
            f"the site refused the request ({text!r}); check bot_id= against the bots on the page",
            **fields)
    if "rate_limit_exceeded" in lower:
        return errors.RateLimitError(
            f"the site's AI provider is rate limiting it: {text!r}; try again later",
            retry_after=None, **fields)
    if started or lower.startswith(("api error", "connection error", "api key missing",
                                    "failed to log")):
        return errors.ServerError(
            f"the site's AI backend failed: {text!r}; try again later", **fields)
    return errors.RejectedError(f"the chatbot refused this message: {text!r}; rephrase it", **fields)
