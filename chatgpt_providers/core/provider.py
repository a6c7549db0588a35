"""The front object of every client: :class:`ChatProvider` turns the constructor's options into
a :class:`~.site.Site` (address, transport, token cache, limits), a :class:`Protocol` (set by
each client class) and a :class:`RetryPolicy`, and runs each call in the shared loop;
:class:`ChatAPI` is the set of calls built on ``stream`` (``complete``, ``reply``,
``conversation``, ``batch``, ``display_stream``)."""

from __future__ import annotations

import logging
import secrets
from typing import (
    Any,
    ClassVar,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Union,
    runtime_checkable,
)
from typing import Protocol as TypingProtocol
from urllib.parse import urlsplit

import requests

from .loop import stream_reply
from .messages import Messages, parse_messages
from .options import build_client, constructor_options, stream_options, take_options
from .protocol import Protocol
from .results import Answer, Reply
from .retry import RetryPolicy
from .site import DEFAULT_MAX_REPLY_CHARS, Site, Tokens, Turn
from .sse import DEFAULT_MAX_EVENT_BYTES
from .timeouts import DEFAULT_TIMEOUT, Timeout
from .transport import DEFAULT_MAX_BODY_BYTES, Transport

__all__ = ["ChatAPI", "ChatProvider", "ChatSession"]

log = logging.getLogger("chatgpt_providers")


class ChatAPI:
    """Calls built on ``stream``/``reply``, shared by single providers and RetryProvider.

    >>> from chatgpt_providers import ChatGptt, RetryProvider
    >>> isinstance(ChatGptt(), ChatAPI), isinstance(RetryProvider([ChatGptt]), ChatAPI)
    (True, True)
    """

    @property
    def name(self) -> str:
        """The provider's name in messages and errors, e.g. ``"ChatGptt"``."""
        return type(self).__name__

    def stream(self, messages: Messages, *, model: Optional[str] = None,
               reply: Optional[Reply] = None, **options: Any) -> Iterator[str]:
        """Yield the reply's text as it arrives (each subclass implements it); ``reply``, if
        given, is filled in with what the call learned besides the text. ``options``:
        generation options (``temperature=``, ...), accepted and ignored."""
        raise NotImplementedError

    def _call_options(self, call: str, options: Mapping[str, Any]) -> Dict[str, Any]:
        """The options of ``self.<call>(...)`` to pass on to :meth:`stream`: its keyword
        options are kept, generation options dropped, anything else is a ``TypeError``
        naming ``<provider>.<call>()`` (the method the user called).

        >>> from chatgpt_providers import ChatGptt
        >>> ChatGptt()._call_options("complete", {"model": "gpt-4o", "temperature": 0.3})
        {'model': 'gpt-4o'}
        """
        if not options:
            return {}
        accepted = [name for name in stream_options(type(self))
                    if call == "stream" or name != "reply"]
        return take_options(f"{self.name}.{call}()", options, accepted)

    def close(self) -> None:
        """Release the connections (each subclass implements it)."""
        raise NotImplementedError

    def reply(self, messages: Messages, **options: Any) -> Reply:
        """Like :meth:`complete`, but return the :class:`Reply` with ``usage``, ``chat_id``
        and the ``provider`` that answered. ``options`` are :meth:`stream`'s.

        >>> from chatgpt_providers import Chatgpt4Online
        >>> Chatgpt4Online().reply("Say hi").usage     # doctest: +SKIP
        {'prompt_tokens': 9, 'completion_tokens': 2, 'total_tokens': 11}
        """
        options = self._call_options("reply", options)
        reply = Reply()
        for _ in self.stream(messages, reply=reply, **options):
            pass
        return reply

    def complete(self, messages: Messages, *, model: Optional[str] = None, **options: Any) -> Answer:
        """Send ``messages`` and return the whole reply (a ``str`` that renders as
        Markdown in Jupyter). ``options`` are :meth:`stream`'s; generation options
        (``temperature=``, ``max_tokens=``, ...) are accepted and ignored.

        >>> from chatgpt_providers import Chatgpt4Online
        >>> Chatgpt4Online().complete("Say hi", temperature=0.3)      # doctest: +SKIP
        'Hi!'
        """
        options = self._call_options("complete", options)
        return Answer(self.reply(messages, model=model, **options).text)

    # -- calls that live in interfaces/ ---------------------------------------------------
    # conversation, batch and display_stream are interface functions over any client
    # (interfaces/conversation.py, batch.py, notebook.py). The public face,
    # chatgpt_providers/__init__.py, makes them these methods, loading each module on first
    # use; the core never imports an interface. The stubs below give their signatures.

    def conversation(self, system: Optional[str] = None) -> ChatSession:
        """A multi-turn chat that keeps its history (and the site's conversation ids): see
        :func:`chatgpt_providers.interfaces.conversation.conversation`."""
        raise NotImplementedError("set by chatgpt_providers/__init__.py")

    def batch(self, prompts: Iterable[Messages], *, workers: int = 4,
              progress: bool = False) -> List[Union[Answer, Exception]]:
        """Answer many prompts with ``workers`` threads: see
        :func:`chatgpt_providers.interfaces.batch.run_batch`."""
        raise NotImplementedError("set by chatgpt_providers/__init__.py")

    def display_stream(self, messages: Messages, **options: Any) -> Answer:
        """Stream a reply into one live-updating Markdown output in Jupyter: see
        :func:`chatgpt_providers.interfaces.notebook.display_reply`."""
        raise NotImplementedError("set by chatgpt_providers/__init__.py")


@runtime_checkable
class ChatSession(TypingProtocol):
    """What ``client.conversation()`` returns (a
    :class:`~chatgpt_providers.interfaces.conversation.Conversation`), as the core names it:
    a chat that keeps its history.

    >>> from chatgpt_providers import ChatGptt
    >>> isinstance(ChatGptt().conversation(), ChatSession)
    True
    """

    system: Optional[str]
    chat_id: Optional[str]
    last_reply: Optional[Reply]

    @property
    def messages(self) -> List[Dict[str, str]]: ...

    def reset(self) -> None: ...

    def ask(self, text: str, **options: Any) -> Answer: ...

    def stream(self, text: str, **options: Any) -> Iterator[str]: ...

    def display_stream(self, text: str, **options: Any) -> Answer: ...


def normalize_base_url(base_url: object, provider: str) -> str:
    """``https://site.example/`` -> ``https://site.example``; anything not http(s) is an error.

    >>> normalize_base_url("https://site.example/ ", "ChatGptt")
    'https://site.example'
    """
    if not isinstance(base_url, str) or not base_url.strip():
        raise ValueError(
            f"{provider} needs base_url=, the site's address, e.g. 'https://site.example'"
        )
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"base_url must be an http(s) address like 'https://site.example'; got {base_url!r}"
        )
    return base_url.strip().rstrip("/")


class ChatProvider(ChatAPI):
    """Base class of the protocol clients (:class:`~chatgpt_providers.AIEngine`,
    :class:`~chatgpt_providers.AIPower`); not used directly.

    One instance keeps one ``requests.Session`` (keep-alive, cookies) and the site's nonce,
    reused across calls. Share an instance between threads freely: a lock makes the nonce
    fetch and refresh happen once, and every call has its own request and response.

    >>> from chatgpt_providers import AIEngine
    >>> bot = AIEngine("https://site.example", timeout=(5, 30), retries=1)
    >>> bot.transport.timeout, bot.retry_policy.retries
    ((5.0, 30.0), 1)
    """

    #: The site a preset talks to by default (generic protocol clients have none); on an
    #: instance, the site it talks to, as gpt4free's ``url``.
    url: Optional[str] = None
    working: ClassVar[bool] = True
    needs_auth: ClassVar[bool] = False
    supports_stream: ClassVar[bool] = True
    supports_message_history: ClassVar[bool] = True
    supports_system_message: ClassVar[bool] = True
    #: Model names gpt4free code passes; the site decides the model, so any name is accepted.
    models: ClassVar[List[str]] = []
    default_model: ClassVar[str] = ""
    #: The plugin this client speaks, for messages.
    plugin: ClassVar[str] = ""
    #: Every plugin generation this client speaks, by detection's names.
    speaks: ClassVar[Tuple[str, ...]] = ()
    #: The plugin-specific half, set by each client class's constructor.
    protocol: Protocol

    def __init__(
        self,
        base_url: Optional[str] = None,
        *,
        proxy: Optional[str] = None,
        proxies: Optional[Mapping[str, str]] = None,
        timeout: Optional[Timeout] = DEFAULT_TIMEOUT,
        headers: Optional[Mapping[str, str]] = None,
        verify: Union[bool, str] = True,
        session: Optional[requests.Session] = None,
        retries: int = 2,
        max_retry_wait: float = 20.0,
        retry_policy: Optional[RetryPolicy] = None,
        total_timeout: Optional[float] = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        **options: Any,
    ) -> None:
        if options:  # generation options are ignored; a misspelt one names the class called
            take_options(f"{type(self).__name__}()", options, constructor_options(type(self)))
        self.base_url = normalize_base_url(base_url or type(self).url, type(self).__name__)
        #: The site this instance talks to (``base_url``), as gpt4free's ``url``.
        self.url = self.base_url
        for name, value in (("max_event_bytes", max_event_bytes), ("max_reply_chars", max_reply_chars),
                            ("max_body_bytes", max_body_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive whole number; got {value!r}")
        if total_timeout is not None and (
                isinstance(total_timeout, bool) or not isinstance(total_timeout, (int, float))
                or total_timeout <= 0):
            raise ValueError(f"total_timeout must be positive seconds or None; got {total_timeout!r}")
        self.transport = Transport(
            proxy=proxy, proxies=proxies, timeout=timeout, headers=headers, verify=verify,
            session=session, max_body_bytes=max_body_bytes, site=self.base_url, provider=self.name,
        )
        #: What the protocol may use: address, transport, pages, token cache, call limits.
        self.site = Site(self.name, self.base_url, self.transport, total_timeout=total_timeout,
                         max_reply_chars=max_reply_chars, max_event_bytes=max_event_bytes)
        #: When failed calls are tried again (before any text only).
        self.retry_policy = retry_policy or RetryPolicy(retries=retries, max_retry_wait=max_retry_wait)

    @property
    def total_timeout(self) -> Optional[float]:
        """Seconds a whole call may take, retries included (None: no limit beyond ``timeout``).

        >>> from chatgpt_providers import ChatGptt
        >>> ChatGptt(total_timeout=30).total_timeout
        30
        """
        return self.site.total_timeout

    @total_timeout.setter
    def total_timeout(self, value: Optional[float]) -> None:
        self.site.total_timeout = value

    @property
    def max_event_bytes(self) -> int:
        """The largest event of a stream accepted (bytes)."""
        return self.site.max_event_bytes

    @property
    def max_reply_chars(self) -> int:
        """The longest reply accepted (characters)."""
        return self.site.max_reply_chars

    @property
    def _handed_page(self) -> Optional[Tuple[str, str]]:
        """``(url, html)`` of a page already fetched (by ``connect()``): read once, not fetched."""
        return self.site.handed_page

    @_handed_page.setter
    def _handed_page(self, value: Optional[Tuple[str, str]]) -> None:
        self.site.handed_page = value

    @property
    def page_url(self) -> str:
        """The page that shows the chatbot (its settings and nonce are read there).

        >>> from chatgpt_providers import AIPower
        >>> AIPower("https://site.example", page="/chat/").page_url
        'https://site.example/chat/'
        """
        return self.protocol.page_url

    @property
    def bot_id(self) -> Optional[str]:
        """The bot asked for; None means the page's default bot.

        >>> from chatgpt_providers import AIPKit
        >>> AIPKit("https://site.example", bot_id=5).bot_id
        '5'
        """
        return self.protocol.bot_id

    @property
    def name(self) -> str:
        """The provider's name in messages and errors, e.g. ``"ChatGptt"``."""
        return type(self).__name__

    def __repr__(self) -> str:
        return f"{self.name}({self.base_url!r})"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session (unless you passed your own ``session=``).

        >>> from chatgpt_providers import ChatGptt
        >>> with ChatGptt() as bot:      # closes on leaving the block
        ...     pass
        """
        self.transport.close()

    # -- the public calls ----------------------------------------------------------------

    def stream(self, messages: Messages, *, model: Optional[str] = None,
               chat_id: Optional[str] = None, reply: Optional[Reply] = None,
               **options: Any) -> Iterator[str]:
        """Send ``messages`` and yield the reply's text as it arrives.

        ``messages`` is a string or a list of ``{"role", "content"}`` dicts ending with a
        user turn; bad input raises ValueError at once, before any traffic. ``model`` is
        accepted and ignored: the site decides the model. ``chat_id`` names the
        conversation to the site (by default one is derived from its first turns). Pass a
        :class:`Reply` as ``reply`` to learn the final text, ``usage`` and ``chat_id`` once
        the stream has ended. Generation ``options`` (``temperature=``, ``max_tokens=``,
        ...) are accepted and ignored: the site's bot settings decide them.

        >>> from chatgpt_providers import ChatGptt
        >>> for text in ChatGptt().stream("Hi"):     # doctest: +SKIP
        ...     print(text, end="", flush=True)

        Stopping early (``break``) closes the response. A failure raises a
        :class:`~chatgpt_providers.ProviderError` whose ``partial_text`` holds all the text
        yielded before it.
        """
        if options:
            self._call_options("stream", options)
        conversation = parse_messages(messages)
        self.protocol.check(conversation, chat_id if chat_id is not None else
                            reply.chat_id if reply is not None else None)
        self._note_model(model)
        if reply is None:
            reply = Reply()
        if chat_id is not None:
            reply.chat_id = chat_id
        return stream_reply(self.site, self.protocol, self.retry_policy, Turn(conversation, reply))

    def new_chat_id(self) -> str:
        """A fresh id for a conversation with this site (see :meth:`conversation`).

        >>> from chatgpt_providers import AIEngine
        >>> len(AIEngine("https://site.example").new_chat_id())
        12
        """
        return secrets.token_hex(6)

    @classmethod
    def create_completion(cls, model: str, messages: Messages, stream: bool = True,
                          proxy: Optional[str] = None, **options: Any) -> Iterator[str]:
        """gpt4free's provider call: a generator of text (the whole reply once when
        ``stream=False``). ``options`` are the constructor's (``base_url=``,
        ``timeout=``, ...); each call uses a fresh client, as gpt4free did.

        >>> from chatgpt_providers import ChatGptt
        >>> messages = [{"role": "user", "content": "Hi"}]
        >>> for text in ChatGptt.create_completion("gpt-4o", messages):   # doctest: +SKIP
        ...     print(text, end="")
        """
        conversation = parse_messages(messages)
        client = build_client(cls, dict(options, proxy=proxy), f"{cls.__name__}.create_completion()")
        client.protocol.check(conversation, None)
        client._note_model(model)

        def run() -> Iterator[str]:
            try:
                turn = Turn(conversation, Reply())
                texts = stream_reply(client.site, client.protocol, client.retry_policy, turn)
                if stream:
                    yield from texts
                else:
                    for _ in texts:
                        pass
                    yield turn.reply.text
            finally:
                client.close()

        return run()

    # -- shared machinery ----------------------------------------------------------------

    def _note_model(self, model: Optional[str]) -> None:
        if model and model not in self.models:
            log.debug("%s: model %r is ignored; the site decides the model", self.name, model)

    def _current_tokens(self) -> Tokens:
        """The site's cached tokens, fetched now if none are (``check()`` and benchmarks)."""
        return self.site.current_tokens(self.protocol.fetch_tokens)

    def forget_nonce(self) -> None:
        """Drop the cached nonce so the next call fetches a fresh one.

        >>> from chatgpt_providers import ChatGptt
        >>> ChatGptt().forget_nonce()
        """
        self.site.forget_tokens()

    def _page_url(self, page: str) -> str:
        return self.site.page_url(page)
