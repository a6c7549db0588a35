"""An OpenAI-SDK-shaped client: ``Client(provider=...).chat.completions.create(...)``,
written as OpenAI SDK code is written.

>>> from chatgpt_providers import Client
>>> client = Client(api_key="not needed")          # api_key is accepted and ignored
>>> [model.id for model in client.models.list()]   # the providers, in OpenAI's shape
['Chatgpt4Online', 'ChatGptt']

What maps how:

- ``Client(api_key=..., organization=..., project=...)``: accepted and ignored (the sites
  need no key). ``base_url=`` is the address of the WordPress site whose chatbot answers
  (with ``provider=``, or alone: then AI Engine and AI Power are tried there in turn); an
  OpenAI-compatible API address (``.../v1``) is refused with an explanation.
  ``timeout=``, ``max_retries=`` and ``default_headers=`` become the provider's
  ``timeout=``, ``retries=`` and ``headers=``.
- ``create(stream=True)`` returns a :class:`Stream`: iterate it, ``close()`` it, or use
  ``with ... as stream:``; closing it closes the connection to the site.
- ``stream_options={"include_usage": True}``: a last chunk with empty ``choices`` and the
  site's ``usage`` (when the site reports usage: AI Engine does, AI Power does not).
- ``timeout=`` and ``extra_headers=`` per call are honoured; sampling parameters
  (``temperature``, ``max_tokens``, ...) are accepted and ignored, because the site's bot
  settings decide them; ``response_format``, ``tools``, ``n>1`` and the like raise a
  ``ValueError`` saying that the sites cannot do that.
- Results are plain dataclasses with ``model_dump()``, ``model_dump_json()``, ``to_dict()``
  and ``to_json()``; no pydantic.

The result types keep the OpenAI SDK's names (``ChatCompletion``, ``ChatCompletionChunk``,
as in ``openai.types.chat``); they are not exported at the top level, where
``chatgpt_providers.ChatCompletion`` is gpt4free's entry point. Imported only when used.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    Tuple,
    TypeVar,
    Union,
    overload,
)
from urllib.parse import urlsplit

from ..core.messages import Messages, parse_messages
from ..core.options import GPT4FREE_OPTIONS, SAMPLING_OPTIONS
from ..core.results import Reply
from ..core.transport import Timeout, call_overrides, normalize_timeout
from .compat import provider_from

__all__ = ["Client", "Stream", "ChatCompletion", "ChatCompletionChunk", "Choice", "ChunkChoice",
           "ChatCompletionMessage", "ChoiceDelta", "CompletionUsage", "Model", "ModelPage",
           "IGNORED_PARAMETERS"]

log = logging.getLogger(__name__)

#: OpenAI parameters that make no sense for these sites, and gpt4free's ``Client`` extras
#: (``web_search``, ``api_key``, ...): accepted and ignored (the site's bot settings decide).
IGNORED_PARAMETERS = SAMPLING_OPTIONS | GPT4FREE_OPTIONS | frozenset({
    "user", "metadata", "store", "service_tier", "parallel_tool_calls", "prompt_cache_key",
    "safety_identifier", "verbosity", "web_search_options",
})

#: OpenAI parameters asking for what the sites cannot do, each with the values that ask for
#: nothing (accepted) and why the others are refused.
_CANNOT: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "response_format": (
        lambda v: v is None or (isinstance(v, Mapping) and v.get("type") == "text"),
        "the sites answer in free text chosen by their bot and cannot be held to JSON mode or "
        "a schema; ask for JSON in the message and parse the reply yourself"),
    "tools": (lambda v: not v, "the sites' chatbots cannot call tools or functions"),
    "functions": (lambda v: not v, "the sites' chatbots cannot call tools or functions"),
    "tool_choice": (lambda v: v in (None, "none", "auto"),
                    "the sites' chatbots cannot call tools or functions"),
    "function_call": (lambda v: v in (None, "none", "auto"),
                      "the sites' chatbots cannot call tools or functions"),
    "logprobs": (lambda v: not v, "the sites do not report token probabilities"),
    "top_logprobs": (lambda v: v is None, "the sites do not report token probabilities"),
    "audio": (lambda v: v is None, "the sites answer in text only"),
    "modalities": (lambda v: v is None or list(v) == ["text"], "the sites answer in text only"),
    "prediction": (lambda v: v is None, "the sites take no predicted output"),
    "extra_query": (lambda v: not v, "the sites' requests are fixed by their plugin; there is "
                                     "no query to extend (extra_headers= is honoured)"),
    "extra_body": (lambda v: not v, "the sites' requests are fixed by their plugin; there is "
                                    "no body to extend (extra_headers= is honoured)"),
}


class _Dump:
    def model_dump(self, *, exclude_none: bool = False) -> Dict[str, Any]:
        """A plain dict, as pydantic's ``model_dump()`` gives with the OpenAI SDK
        (``exclude_none=True`` leaves out the fields that are None)."""
        data = dataclasses.asdict(self)  # type: ignore[call-overload]  # every subclass is one
        return _without_none(data) if exclude_none else data

    def model_dump_json(self, *, indent: Optional[int] = None, exclude_none: bool = False) -> str:
        """JSON text, as pydantic's ``model_dump_json()``: compact unless ``indent`` is given.

        >>> CompletionUsage(1, 2, 3).model_dump_json()
        '{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}'
        """
        separators = (",", ":") if indent is None else (",", ": ")
        return json.dumps(self.model_dump(exclude_none=exclude_none), indent=indent,
                          separators=separators, ensure_ascii=False)

    def to_dict(self) -> Dict[str, Any]:
        """The OpenAI SDK's ``to_dict()``: the same as :meth:`model_dump`."""
        return self.model_dump()

    def to_json(self, *, indent: Optional[int] = 2) -> str:
        """The OpenAI SDK's ``to_json()``: JSON text, indented by 2 unless told otherwise."""
        return self.model_dump_json(indent=indent)


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


@dataclass
class CompletionUsage(_Dump):
    """Token figures, only as the site reported them."""

    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    total_tokens: Optional[int] = None

    @classmethod
    def from_site(cls, usage: Any) -> Optional[CompletionUsage]:
        """The site's figures, or None when it sent none (they are never invented).

        >>> CompletionUsage.from_site({"prompt_tokens": 3, "total_tokens": 5})
        CompletionUsage(prompt_tokens=3, completion_tokens=None, total_tokens=5)
        >>> CompletionUsage.from_site(None) is None
        True
        """
        if not isinstance(usage, dict):
            return None
        figures = {name: usage.get(name) for name in ("prompt_tokens", "completion_tokens",
                                                       "total_tokens")}
        figures = {k: int(v) for k, v in figures.items() if isinstance(v, (int, float))}
        return cls(**figures) if figures else None


@dataclass
class ChatCompletionMessage(_Dump):
    """Part of :class:`ChatCompletion` (see its example)."""

    content: str
    role: str = "assistant"


@dataclass
class Choice(_Dump):
    """Part of :class:`ChatCompletion` (see its example)."""

    index: int
    message: ChatCompletionMessage
    finish_reason: str = "stop"


@dataclass
class ChatCompletion(_Dump):
    """What ``create(stream=False)`` returns: ``.choices[0].message.content``.

    >>> done = ChatCompletion("chatcmpl-1", 0, "gpt-4o", "ChatGptt",
    ...                       [Choice(0, ChatCompletionMessage("Hi!"))])
    >>> done.choices[0].message.content, done.model_dump()["choices"][0]["finish_reason"]
    ('Hi!', 'stop')
    """

    id: str
    created: int
    model: str
    provider: str
    choices: List[Choice]
    usage: Optional[CompletionUsage] = None
    object: str = "chat.completion"


@dataclass
class ChoiceDelta(_Dump):
    """Part of :class:`ChatCompletionChunk` (see its example)."""

    content: Optional[str] = None
    role: Optional[str] = None


@dataclass
class ChunkChoice(_Dump):
    """Part of :class:`ChatCompletionChunk` (see its example)."""

    index: int
    delta: ChoiceDelta
    finish_reason: Optional[str] = None


@dataclass
class ChatCompletionChunk(_Dump):
    """One piece of ``create(stream=True)``: ``.choices[0].delta.content``; the last one
    has content ``""`` and ``finish_reason == "stop"``.

    >>> last = ChatCompletionChunk("chatcmpl-1", 0, "gpt-4o", "ChatGptt",
    ...                            [ChunkChoice(0, ChoiceDelta(content=""), "stop")])
    >>> last.to_dict()["choices"][0]
    {'index': 0, 'delta': {'content': '', 'role': None}, 'finish_reason': 'stop'}
    """

    id: str
    created: int
    model: str
    provider: str
    choices: List[ChunkChoice]
    usage: Optional[CompletionUsage] = None
    object: str = "chat.completion.chunk"


_T = TypeVar("_T")


class Stream(Iterator[_T]):
    """What ``create(stream=True)`` returns, with the OpenAI SDK's ``Stream`` behaviour:
    iterate it for chunks; :meth:`close` it, or leave a ``with`` block, to stop early and
    close the connection to the site.

    >>> from chatgpt_providers import Client
    >>> from chatgpt_providers.testing import LocalSite
    >>> with LocalSite() as site:
    ...     client = Client(provider="chatgptt", base_url=site.url)
    ...     with client.chat.completions.create(model="gpt-4o", messages="Hi",
    ...                                         stream=True) as stream:
    ...         print("".join(chunk.choices[0].delta.content or "" for chunk in stream))
    Echo: Hi
    """

    def __init__(self, iterator: Iterator[_T]) -> None:
        self._iterator = iterator

    def __iter__(self) -> Stream[_T]:
        return self

    def __next__(self) -> _T:
        return next(self._iterator)

    def close(self) -> None:
        """Stop the stream and close its connection (nothing happens if it already ended)."""
        close = getattr(self._iterator, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Stream[_T]:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def _timeout_pair(timeout: Any) -> Optional[Tuple[float, float]]:
    """``(connect, read)`` from a per-call ``timeout=``: seconds, a pair, or an object with
    ``connect``/``read`` seconds such as ``httpx.Timeout``; None keeps the client's.

    >>> _timeout_pair(5), _timeout_pair((3, 30)), _timeout_pair(None)
    ((5.0, 5.0), (3.0, 30.0), None)
    """
    if timeout is None:
        return None
    if hasattr(timeout, "connect") and hasattr(timeout, "read"):
        connect, read = timeout.connect, timeout.read
        if connect is None or read is None:
            raise ValueError("timeout= needs connect and read seconds; None (no limit) is not "
                             "supported, the sites can stall a reply forever")
        return normalize_timeout((connect, read))
    return normalize_timeout(timeout)


def _with_overrides(inner: Iterator[str], overrides: Any) -> Iterator[str]:
    """Run each step of ``inner`` with this call's timeout and headers (``call_overrides``);
    closing this closes ``inner`` (and its connection)."""
    try:
        while True:
            token = call_overrides.set(overrides)
            try:
                text = next(inner)
            except StopIteration:
                return
            finally:
                call_overrides.reset(token)
            yield text
    finally:
        close = getattr(inner, "close", None)
        if close is not None:
            close()


class _Completions:
    def __init__(self, client: Client) -> None:
        self._client = client

    @overload
    def create(self, *, messages: Messages, model: Optional[str] = None, stream: Literal[False] = False,
               n: Optional[int] = None, stream_options: Optional[Mapping[str, Any]] = None,
               timeout: Optional[Timeout] = None, extra_headers: Optional[Mapping[str, str]] = None,
               **parameters: Any) -> ChatCompletion: ...

    @overload
    def create(self, *, messages: Messages, model: Optional[str] = None, stream: Literal[True],
               n: Optional[int] = None, stream_options: Optional[Mapping[str, Any]] = None,
               timeout: Optional[Timeout] = None, extra_headers: Optional[Mapping[str, str]] = None,
               **parameters: Any) -> Stream[ChatCompletionChunk]: ...

    @overload
    def create(self, *, messages: Messages, model: Optional[str] = None, stream: bool = False,
               n: Optional[int] = None, stream_options: Optional[Mapping[str, Any]] = None,
               timeout: Optional[Timeout] = None, extra_headers: Optional[Mapping[str, str]] = None,
               **parameters: Any) -> Union[ChatCompletion, Stream[ChatCompletionChunk]]: ...

    def create(self, *, messages: Messages, model: Optional[str] = None, stream: bool = False,
               n: Optional[int] = None, stream_options: Optional[Mapping[str, Any]] = None,
               timeout: Optional[Timeout] = None, extra_headers: Optional[Mapping[str, str]] = None,
               **parameters: Any) -> Union[ChatCompletion, Stream[ChatCompletionChunk]]:
        """``client.chat.completions.create(model=..., messages=..., stream=False)``.

        Returns a :class:`ChatCompletion`, or with ``stream=True`` a :class:`Stream` of
        :class:`ChatCompletionChunk`. ``model`` is any name (the site decides the model);
        naming one of ``client.models.list()`` asks that provider only. ``timeout`` (seconds,
        ``(connect, read)`` or an ``httpx.Timeout``) and ``extra_headers`` apply to this call.
        Sampling parameters (``temperature``, ``max_tokens``, ...) are accepted and ignored:
        the site's bot settings decide them.

        >>> from chatgpt_providers import Client
        >>> Client(provider="chatgptt").chat.completions.create(
        ...     model="gpt-4o", messages="Hi", tools=[{"type": "function"}])
        Traceback (most recent call last):
        ...
        ValueError: tools=...: the sites' chatbots cannot call tools or functions
        """
        self._check(n, stream, stream_options, parameters)
        parse_messages(messages)
        include_usage = bool(stream_options and stream_options.get("include_usage"))
        overrides = None
        if timeout is not None or extra_headers:
            overrides = (_timeout_pair(timeout), _headers(extra_headers))
        provider = self._client._provider_for(model)
        model = model or getattr(provider, "default_model", "") or "default"
        ident = f"chatcmpl-{secrets.token_hex(12)}"
        created = int(time.time())
        if stream:
            return Stream(self._chunks(provider, messages, model, ident, created, overrides,
                                       include_usage))
        token = call_overrides.set(overrides)
        try:
            reply = provider.reply(messages, model=model)
        finally:
            call_overrides.reset(token)
        return ChatCompletion(
            id=ident, created=created, model=model, provider=_name(provider, reply),
            choices=[Choice(0, ChatCompletionMessage(reply.text))],
            usage=CompletionUsage.from_site(reply.usage),
        )

    @staticmethod
    def _check(n: Optional[int], stream: bool, stream_options: Optional[Mapping[str, Any]],
               parameters: Dict[str, Any]) -> None:
        if n is not None and n != 1:
            raise ValueError(f"n={n!r}: n must be 1, the sites give one answer per message; "
                             "call create() once per answer you need")
        for name, (harmless, why) in _CANNOT.items():
            if name in parameters and not harmless(parameters[name]):
                raise ValueError(f"{name}={parameters[name]!r}: {why}")
        unknown = set(parameters) - IGNORED_PARAMETERS - set(_CANNOT)
        if unknown:
            raise TypeError(f"create() got unexpected parameters {sorted(unknown)}; it takes the "
                            "OpenAI SDK's, e.g. model=, messages=, stream=, timeout=")
        if stream_options is not None:
            if not stream:
                raise ValueError("stream_options= applies only with stream=True")
            extra = set(stream_options) - {"include_usage", "include_obfuscation"}
            if extra:
                raise ValueError(f"stream_options keys {sorted(extra)} are not supported; "
                                 "include_usage is")
        ignored = sorted(set(parameters) & IGNORED_PARAMETERS)
        if ignored:
            log.debug("ignored OpenAI parameters %s: the site's bot settings decide them", ignored)

    def _chunks(self, provider: Any, messages: Messages, model: str, ident: str, created: int,
                overrides: Any, include_usage: bool) -> Iterator[ChatCompletionChunk]:
        reply = Reply()
        texts = provider.stream(messages, model=model, reply=reply)
        if overrides is not None:
            texts = _with_overrides(texts, overrides)
        first = True
        try:
            for text in texts:
                delta = ChoiceDelta(content=text, role="assistant" if first else None)
                first = False
                yield ChatCompletionChunk(ident, created, model, _name(provider, reply),
                                          [ChunkChoice(0, delta)])
        finally:
            texts.close()  # stopping early closes the connection at once
        usage = CompletionUsage.from_site(reply.usage)
        yield ChatCompletionChunk(ident, created, model, _name(provider, reply),
                                  [ChunkChoice(0, ChoiceDelta(content=""), "stop")],
                                  usage=None if include_usage else usage)
        if include_usage and usage is not None:
            # As the OpenAI API does: one more chunk, with empty choices and the usage.
            yield ChatCompletionChunk(ident, created, model, _name(provider, reply), [], usage=usage)


def _headers(headers: Optional[Mapping[str, str]]) -> Optional[Dict[str, str]]:
    if not headers:
        return None
    if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ValueError(f"extra_headers must map header names to str values; got {headers!r}")
    return dict(headers)


def _name(provider: Any, reply: Reply) -> str:
    """The provider that answered (with a RetryProvider, the one that did)."""
    return str(reply.provider or getattr(provider, "name", type(provider).__name__))


class _Chat:
    def __init__(self, client: Client) -> None:
        self.completions = _Completions(client)


@dataclass
class Model(_Dump):
    """One entry of ``client.models.list()``: a provider, as the OpenAI SDK's ``Model``
    (``id`` the provider's name, ``owned_by`` its site; ``created`` is 0, not known)."""

    id: str
    created: int = 0
    owned_by: str = ""
    object: str = "model"


@dataclass
class ModelPage(_Dump):
    """What ``client.models.list()`` returns: iterate it, or read ``.data``, as the OpenAI
    SDK's page of models."""

    data: List[Model]
    object: str = "list"

    def __iter__(self) -> Iterator[Model]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class _Models:
    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self) -> ModelPage:
        """The providers this client asks, as OpenAI's models (see :class:`Client`).

        >>> from chatgpt_providers import Client
        >>> Client(provider="chatgptt").models.list().data[0]
        Model(id='ChatGptt', created=0, owned_by='chatgptt.me', object='model')
        """
        return ModelPage([Model(p.name, 0, urlsplit(p.base_url).netloc)
                          for p in self._client._providers()])

    def retrieve(self, model: str) -> Model:
        """One of :meth:`list` by its id; a ValueError for any other.

        >>> from chatgpt_providers import Client
        >>> Client().models.retrieve("ChatGptt").owned_by
        'chatgptt.me'
        """
        for entry in self.list():
            if entry.id.lower() == str(model).lower():
                return entry
        raise ValueError(f"no model {model!r} here; client.models.list() has "
                         f"{', '.join(m.id for m in self.list())}")


#: OpenAI ``Client()`` options that mean nothing here: accepted and ignored.
_CLIENT_IGNORED = frozenset({"api_key", "organization", "project", "websocket_base_url", "webhook_secret"})
#: OpenAI ``Client()`` options with a counterpart here.
_CLIENT_RENAMED = {"max_retries": "retries", "default_headers": "headers"}


class Client:
    """The OpenAI SDK's shape over these sites.

    >>> from chatgpt_providers import Client, ChatGptt
    >>> client = Client(provider=ChatGptt())       # an instance, class, name or RetryProvider
    >>> result = client.chat.completions.create(
    ...     model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])  # doctest: +SKIP
    >>> result.choices[0].message.content                                  # doctest: +SKIP
    'Hello!'

    ``Client()`` with no provider fails over across both presets. ``options`` create a
    provider given as a class or name (``base_url=``, ``timeout=``, ...). The OpenAI SDK's
    options: ``api_key``, ``organization`` and ``project`` are accepted and ignored;
    ``max_retries`` and ``default_headers`` are the provider's ``retries`` and ``headers``;
    ``base_url`` is the WordPress site (alone, AI Engine then AI Power are tried there), not
    an OpenAI-compatible API:

    >>> Client(base_url="https://api.openai.com/v1")
    Traceback (most recent call last):
    ...
    ValueError: base_url='https://api.openai.com/v1' looks like an OpenAI-compatible API; ...
    """

    def __init__(self, provider: Any = None, **options: Any) -> None:
        ignored = sorted(set(options) & _CLIENT_IGNORED)
        if ignored:
            log.debug("Client: ignored %s: the sites need no key or account", ignored)
        options = {_CLIENT_RENAMED.get(k, k): v for k, v in options.items() if k not in _CLIENT_IGNORED}
        for name in ("default_query", "http_client"):
            if options.get(name) is not None:
                raise ValueError(f"{name}= is not supported: the client uses requests; pass "
                                 "headers=, proxy= or session= (a requests.Session) instead")
            options.pop(name, None)
        base_url = options.get("base_url")
        if base_url is not None:
            _check_site_address(base_url)
            if provider is None:
                from ..protocols.ai_engine import AIEngine
                from ..protocols.ai_power import AIPower

                provider = [AIEngine, AIPower]  # the site's plugin: whichever answers
        self.provider = provider_from(provider, options, "Client()", ("provider", *_CLIENT_IGNORED,
                                      *_CLIENT_RENAMED, "default_query", "http_client"))
        self.chat = _Chat(self)
        self.models = _Models(self)

    def __repr__(self) -> str:
        return f"Client(provider={self.provider!r})"

    def _providers(self) -> List[Any]:
        return list(getattr(self.provider, "providers", [self.provider]))

    def _provider_for(self, model: Optional[str]) -> Any:
        """The provider ``model`` names (one of ``models.list()``), else the client's."""
        if model:
            for provider in self._providers():
                if provider.name.lower() == model.lower():
                    return provider
        return self.provider

    def close(self) -> None:
        """Close the provider's connections.

        >>> Client(provider="chatgptt").close()
        """
        self.provider.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _check_site_address(base_url: Any) -> None:
    """Refuse an OpenAI-compatible API address given as the site."""
    if not isinstance(base_url, str):
        return  # the provider says what is wrong with it
    parts = urlsplit(base_url.strip())
    path = parts.path.rstrip("/")
    if parts.hostname == "api.openai.com" or path.endswith("/v1") or "/v1/" in path + "/":
        raise ValueError(
            f"base_url={base_url!r} looks like an OpenAI-compatible API; here base_url is the "
            "address of the WordPress site whose chatbot answers, e.g. "
            "Client(provider='chatgptt', base_url='https://site.example'); to call an OpenAI "
            "API, use the openai package"
        )
