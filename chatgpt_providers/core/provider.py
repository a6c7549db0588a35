"""The base every protocol client stands on: options, the nonce cache, the one-refresh
retry, streaming with nothing lost, and the gpt4free-style class API."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any, ClassVar, Iterator, List, Mapping, Optional, Tuple, Union
from urllib.parse import urljoin, urlsplit

import requests

from .. import errors
from .messages import Messages, ParsedMessages, parse_messages
from .results import Answer, Reply
from .retry import RetryPolicy
from .sse import DEFAULT_MAX_EVENT_BYTES, json_or_none
from .transport import DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT, Timeout, Transport, call_deadline

__all__ = ["ChatAPI", "ChatProvider", "NonceRefused"]

log = logging.getLogger(__name__)

#: What a subclass needs from the site for a request (nonce and settings): its own record.
Tokens = Any

#: Longest reply accepted by default (characters); a site sending more is cut off.
DEFAULT_MAX_REPLY_CHARS = 16 * 1024 * 1024


class ChatAPI:
    """Calls built on ``stream``/``reply``, shared by single providers and RetryProvider.

    >>> from chatgpt_providers import ChatGptt, RetryProvider
    >>> isinstance(ChatGptt(), ChatAPI), isinstance(RetryProvider([ChatGptt]), ChatAPI)
    (True, True)
    """

    def stream(self, messages: Messages, **options: Any) -> Iterator[str]:
        """Yield the reply's text as it arrives (each subclass implements it)."""
        raise NotImplementedError

    def reply(self, messages: Messages, **options: Any) -> Reply:
        """Like :meth:`complete`, but return the :class:`Reply` with ``usage``, ``chat_id``
        and the ``provider`` that answered. ``options`` are :meth:`stream`'s.

        >>> from chatgpt_providers import Chatgpt4Online
        >>> Chatgpt4Online().reply("Say hi").usage     # doctest: +SKIP
        {'prompt_tokens': 9, 'completion_tokens': 2, 'total_tokens': 11}
        """
        reply = Reply()
        for _ in self.stream(messages, reply=reply, **options):
            pass
        return reply

    def complete(self, messages: Messages, *, model: Optional[str] = None, **options: Any) -> Answer:
        """Send ``messages`` and return the whole reply (a ``str`` that renders as
        Markdown in Jupyter).

        >>> from chatgpt_providers import Chatgpt4Online
        >>> Chatgpt4Online().complete("Say hi")      # doctest: +SKIP
        'Hi!'
        """
        return Answer(self.reply(messages, model=model, **options).text)

    def conversation(self, system: Optional[str] = None):
        """A multi-turn chat that keeps its history (and the site's conversation ids).

        >>> from chatgpt_providers import ChatGptt
        >>> chat = ChatGptt().conversation(system="Be brief.")
        >>> chat.ask("Hi")                          # doctest: +SKIP
        'Hello!'
        >>> chat.ask("What did I just say?")        # doctest: +SKIP
        'You said "Hi".'
        """
        from ..interfaces.conversation import Conversation

        return Conversation(self, system=system)

    def batch(self, prompts, *, workers: int = 4, progress: bool = False) -> List[Any]:
        """Answer many prompts with ``workers`` threads; results come in input order, and
        an item that failed holds its exception instead of stopping the batch.

        >>> from chatgpt_providers import ChatGptt
        >>> ChatGptt().batch(["Hi", "2+2?"], workers=2)      # doctest: +SKIP
        ['Hello!', '4']
        """
        from ..interfaces.batch import run_batch

        return run_batch(self, prompts, workers=workers, progress=progress)

    def display_stream(self, messages: Messages, **options: Any) -> Answer:
        """Stream a reply into one live-updating Markdown output in Jupyter (printed as it
        arrives elsewhere); returns the whole reply.

        >>> from chatgpt_providers import ChatGptt
        >>> ChatGptt().display_stream("Tell me a joke")       # doctest: +SKIP
        """
        from ..interfaces.notebook import display_stream

        return display_stream(self.stream(messages, **options))


class NonceRefused(Exception):
    """Internal: the site refused the nonce; the caller refreshes once and retries."""

    def __init__(self, response: requests.Response, detail: str) -> None:
        super().__init__(detail)
        self.response = response
        self.detail = detail


def _under_deadline(inner: Iterator[str], deadline: Tuple[float, float]) -> Iterator[str]:
    """Run each step of ``inner`` with ``deadline`` as the call's deadline."""
    while True:
        token = call_deadline.set(deadline)
        try:
            text = next(inner)
        except StopIteration:
            return
        finally:
            call_deadline.reset(token)
        yield text


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

    #: The site a preset talks to by default; generic protocol clients have none.
    url: ClassVar[Optional[str]] = None
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
    ) -> None:
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
            session=session, max_body_bytes=max_body_bytes,
        )
        #: When failed calls are tried again (before any text only).
        self.retry_policy = retry_policy or RetryPolicy(retries=retries, max_retry_wait=max_retry_wait)
        #: Seconds a whole call may take, retries included (None: no limit beyond ``timeout``).
        self.total_timeout = total_timeout
        self.max_event_bytes = max_event_bytes
        self.max_reply_chars = max_reply_chars
        self._lock = threading.Lock()
        self._tokens: Tokens = None
        #: ``(url, html)`` of a page already fetched (by ``connect()``): served once by _get_page.
        self._handed_page: Optional[Tuple[str, str]] = None

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
               chat_id: Optional[str] = None, reply: Optional[Reply] = None) -> Iterator[str]:
        """Send ``messages`` and yield the reply's text as it arrives.

        ``messages`` is a string or a list of ``{"role", "content"}`` dicts ending with a
        user turn; bad input raises ValueError at once, before any traffic. ``model`` is
        accepted and ignored: the site decides the model. ``chat_id`` names the
        conversation to the site (by default one is derived from its first turns). Pass a
        :class:`Reply` as ``reply`` to learn the final text, ``usage`` and ``chat_id`` once
        the stream has ended.

        >>> from chatgpt_providers import ChatGptt
        >>> for text in ChatGptt().stream("Hi"):     # doctest: +SKIP
        ...     print(text, end="", flush=True)

        Stopping early (``break``) closes the response. A failure raises a
        :class:`~chatgpt_providers.ProviderError` whose ``partial_text`` holds all the text
        yielded before it.
        """
        conversation = parse_messages(messages)
        self._note_model(model)
        if reply is None:
            reply = Reply()
        if chat_id is not None:
            reply.chat_id = chat_id
        return self._guarded(conversation, reply)

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
        from .options import build_client  # sampling/gpt4free-only options are ignored
        client = build_client(cls, proxy=proxy, **options)
        client._note_model(model)

        def run() -> Iterator[str]:
            try:
                if stream:
                    yield from client._guarded(conversation, Reply())
                else:
                    reply = Reply()
                    for _ in client._guarded(conversation, reply):
                        pass
                    yield reply.text
            finally:
                client.close()

        return run()

    # -- what subclasses provide ---------------------------------------------------------

    def _fetch_tokens(self) -> Tokens:
        """Obtain the site's nonce (and whatever else a request needs)."""
        raise NotImplementedError

    def _exchange(self, tokens: Tokens, conversation: ParsedMessages, reply: Reply
                  ) -> Iterator[str]:
        """Send one request with ``tokens`` and yield its text; raise NonceRefused
        (before any text) when the site refuses the nonce."""
        raise NotImplementedError

    # -- shared machinery ----------------------------------------------------------------

    def _note_model(self, model: Optional[str]) -> None:
        if model and model not in self.models:
            log.debug("%s: model %r is ignored; the site decides the model", self.name, model)

    def _guarded(self, conversation: ParsedMessages, reply: Reply) -> Iterator[str]:
        """Yield the reply's text, retrying transient failures that come before any text.

        On failure, what was yielded is attached to the error as ``partial_text``. Each
        step of the inner generator runs with this call's deadline in ``call_deadline``.
        """
        policy = self.retry_policy
        deadline = None
        if self.total_timeout is not None:
            deadline = (time.monotonic() + self.total_timeout, float(self.total_timeout))
        retry_deadline = policy.clock() + self.total_timeout if self.total_timeout else None
        attempt = 0
        reply.provider = self.name
        streamed = reply.streamed
        recent = streamed._recent  # appended to directly: this loop runs once per delta
        batch = streamed.BATCH
        limit = self.max_reply_chars
        while True:
            inner = self._with_one_refresh(conversation, reply)
            try:
                size = 0
                for text in inner if deadline is None else _under_deadline(inner, deadline):
                    if not text:
                        continue
                    size += len(text)
                    if size > limit:
                        raise errors.ResponseError(
                            f"the reply passed max_reply_chars={limit}; the rest was not read "
                            "(raise max_reply_chars= for longer replies)",
                            url=self.base_url,
                        )
                    recent.append(text)
                    if len(recent) >= batch:
                        streamed.compact()
                    yield text
                return
            except errors.ProviderError as exc:
                if exc.provider is None:
                    exc.provider = self.name
                wait = None if streamed else policy.wait_before_retry(exc, attempt, retry_deadline)
                if wait is None:
                    exc.partial_text = streamed.getvalue()
                    raise
                log.info("%s: %s: %s; retry %d of %d in %.2f s", self.name, type(exc).__name__,
                         exc, attempt + 1, policy.retries, wait)
                reply.final_text = reply.usage = None
            finally:
                inner.close()
            policy.sleep(wait)
            attempt += 1

    def _with_one_refresh(self, conversation: ParsedMessages, reply: Reply) -> Iterator[str]:
        tokens = self._current_tokens()
        try:
            yield from self._exchange(tokens, conversation, reply)
            return
        except NonceRefused as refused:
            log.info("%s: the site refused the nonce (%s); fetching a new one", self.name,
                     refused.detail)
        tokens = self._refresh_tokens(tokens)
        try:
            yield from self._exchange(tokens, conversation, reply)
        except NonceRefused as refused:
            response = refused.response
            raise errors.AuthenticationError(
                f"{self.name}: the site refused a freshly fetched nonce too ({refused.detail}); "
                "it may require a login, or block this client; try again later",
                url=response.url,
                status_code=response.status_code,
                body=response.content,
            ) from None

    def _current_tokens(self) -> Tokens:
        tokens = self._tokens  # one attribute read is atomic: no lock once a nonce is cached
        if tokens is not None:
            return tokens
        with self._lock:
            if self._tokens is None:
                self._tokens = self._fetch_tokens()
            return self._tokens

    def _refresh_tokens(self, stale: Tokens) -> Tokens:
        """New tokens, unless another thread already replaced the stale ones."""
        with self._lock:
            if self._tokens is None or self._tokens is stale:
                self._tokens = self._fetch_tokens()
            return self._tokens

    def _replace_tokens(self, old: Tokens, new: Tokens) -> None:
        """Swap in tokens the site handed out (a rotated nonce), if ``old`` is still current."""
        with self._lock:
            if self._tokens is old:
                self._tokens = new

    def forget_nonce(self) -> None:
        """Drop the cached nonce so the next call fetches a fresh one.

        >>> from chatgpt_providers import ChatGptt
        >>> ChatGptt().forget_nonce()
        """
        with self._lock:
            self._tokens = None

    def _page_url(self, page: str) -> str:
        return urljoin(self.base_url + "/", page)

    def _get_page(self, url: str, what: str) -> str:
        """GET a page that should hold the chatbot and return its HTML (a page handed over
        by ``connect()`` is used once instead of fetching it again)."""
        handed, self._handed_page = self._handed_page, None
        if handed is not None and handed[0] == url:
            return handed[1]
        response = self.transport.request("GET", url, provider=self.name,
                                          headers={"Accept": "text/html,*/*;q=0.8"})
        if response.status_code != 200:
            raise self.transport.http_error(response, provider=self.name, what=what)
        return response.text

    def _answer_kind(self, response: requests.Response
                     ) -> Tuple[Optional[str], Optional[Iterator[bytes]]]:
        """``("sse", pieces)``, ``("json", None)`` or ``(None, None)`` for an answer.

        Branches on Content-Type as the plugins' own clients do; a 200 body with another
        type is read and recognised by its first bytes (a JSON object or ``data:`` lines).
        """
        if response.status_code != 200:
            return None, None
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "text/event-stream":
            return "sse", self.transport.iter_bytes(response, provider=self.name)
        if kind in ("application/json", "text/json"):
            return "json", None
        body = self.transport.read_body(response, provider=self.name)
        head = body.lstrip()[:6]
        if head.startswith(b"{"):
            return "json", None
        if head.startswith((b"data:", b"event:", b":")):
            return "sse", iter([body])
        return None, None

    def _json_or_none(self, response: requests.Response) -> Any:
        """The body as JSON, or None when it is not JSON."""
        body = self.transport.read_body(response, provider=self.name)
        return json_or_none(body.decode("utf-8", "replace"))

    def _drain(self, response: requests.Response, chunks: Iterator[bytes]) -> None:
        """Read what is left after the end marker so the connection returns to the pool."""
        left = 64 * 1024
        try:
            for piece in chunks:
                left -= len(piece)
                if left < 0:
                    break
        except errors.ProviderError:
            pass
        finally:
            response.close()
