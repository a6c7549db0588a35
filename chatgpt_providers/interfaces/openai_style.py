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

import logging
from typing import (
    Any,
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

from ..core.messages import Messages
from ..core.results import Reply
from ..core.timeouts import Timeout, call_overrides, normalize_timeout
from .compat import provider_from
from .openai_translation import (
    HONOURED,
    IGNORED_PARAMETERS,
    REFUSED,
    CompletionRequest,
    RequestError,
    completion,
    completion_chunks,
    cut_at_stop,
    translate_request,
)
from .openai_types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    CompletionUsage,
    Model,
    ModelPage,
)

__all__ = ["Client", "Stream", "ChatCompletion", "ChatCompletionChunk", "Choice", "ChunkChoice",
           "ChatCompletionMessage", "ChoiceDelta", "CompletionUsage", "Model", "ModelPage",
           "IGNORED_PARAMETERS"]

log = logging.getLogger("chatgpt_providers")

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
        unknown = sorted(set(parameters) - set(IGNORED_PARAMETERS) - set(REFUSED) - HONOURED)
        if unknown:
            raise TypeError(f"create() got unexpected parameters {unknown}; it takes the OpenAI "
                            "SDK's, e.g. model=, messages=, stream=, timeout=")
        try:
            request = translate_request({"messages": messages, "model": model, "stream": stream,
                                         "n": n, "stream_options": stream_options, **parameters})
        except RequestError as exc:
            raise ValueError(exc.message) from None
        if request.ignored:
            log.debug("ignored OpenAI parameters %s: the site's bot settings decide them",
                      request.ignored)
        overrides = None
        if timeout is not None or extra_headers:
            overrides = (_timeout_pair(timeout), _headers(extra_headers))
        provider = self._client._provider_for(model)
        model = model or getattr(provider, "default_model", "") or "default"
        if stream:
            return Stream(self._chunks(provider, request, model, overrides))
        reply = Reply()
        if not request.stop:
            token = call_overrides.set(overrides)
            try:
                reply = provider.reply(request.messages, model=model)
            finally:
                call_overrides.reset(token)
            return completion(provider, model, reply)
        text = "".join(self._texts(provider, request, model, overrides, reply))
        return completion(provider, model, reply, text)

    @staticmethod
    def _texts(provider: Any, request: CompletionRequest, model: str, overrides: Any,
               reply: Reply) -> Iterator[str]:
        """The reply's texts, with this call's overrides, cut before a stop sequence."""
        texts = provider.stream(request.messages, model=model, reply=reply)
        if overrides is not None:
            texts = _with_overrides(texts, overrides)
        return cut_at_stop(texts, request.stop)

    def _chunks(self, provider: Any, request: CompletionRequest, model: str,
                overrides: Any) -> Iterator[ChatCompletionChunk]:
        reply = Reply()
        texts = self._texts(provider, request, model, overrides, reply)
        return completion_chunks(provider, model, texts, reply, include_usage=request.include_usage)


def _headers(headers: Optional[Mapping[str, str]]) -> Optional[Dict[str, str]]:
    if not headers:
        return None
    if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ValueError(f"extra_headers must map header names to str values; got {headers!r}")
    return dict(headers)


class _Chat:
    def __init__(self, client: Client) -> None:
        self.completions = _Completions(client)


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
