"""An OpenAI-SDK-shaped client: ``Client(provider=...).chat.completions.create(...)``.

Plain dataclasses with ``model_dump()``/``to_dict()``; no pydantic. Imported only when used.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Literal, Optional, Union, overload

from ..core.messages import Messages, parse_messages
from ..core.results import Reply
from .compat import resolve_provider

__all__ = ["Client", "ChatCompletion", "ChatCompletionChunk", "Choice", "ChunkChoice",
           "ChatCompletionMessage", "ChoiceDelta", "CompletionUsage"]

log = logging.getLogger(__name__)

#: OpenAI parameters that make no sense for these sites: accepted and ignored (the site's
#: bot settings decide them).
IGNORED_PARAMETERS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "presence_penalty",
    "frequency_penalty", "stop", "seed", "user", "logit_bias", "timeout", "extra_headers",
    "metadata", "store", "service_tier", "parallel_tool_calls",
})


class _Dump:
    def model_dump(self: Any) -> Dict[str, Any]:  # self: Any, as every subclass is a dataclass
        """A plain dict, as pydantic's ``model_dump()`` gives with the OpenAI SDK."""
        return dataclasses.asdict(self)

    to_dict = model_dump


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


class _Completions:
    def __init__(self, client: Client) -> None:
        self._client = client

    @overload
    def create(self, *, messages: Messages, model: Optional[str] = None,
               stream: Literal[False] = False, n: int = 1, **parameters: Any) -> ChatCompletion: ...

    @overload
    def create(self, *, messages: Messages, model: Optional[str] = None,
               stream: Literal[True], n: int = 1, **parameters: Any) -> Iterator[ChatCompletionChunk]: ...

    @overload
    def create(self, *, messages: Messages, model: Optional[str] = None, stream: bool = False,
               n: int = 1, **parameters: Any) -> Union[ChatCompletion, Iterator[ChatCompletionChunk]]: ...

    def create(self, *, messages: Messages, model: Optional[str] = None, stream: bool = False,
               n: int = 1, **parameters: Any) -> Union[ChatCompletion, Iterator[ChatCompletionChunk]]:
        """``client.chat.completions.create(model=..., messages=..., stream=False)``.

        Sampling parameters (``temperature``, ``max_tokens``, ...) are accepted and ignored:
        the site's bot settings decide them.
        """
        unknown = set(parameters) - IGNORED_PARAMETERS
        if unknown:
            raise TypeError(f"create() got unsupported parameters {sorted(unknown)}; these sites "
                            "take messages only")
        if n != 1:
            raise ValueError("n must be 1: the sites give one answer per message")
        if parameters:
            log.debug("ignored OpenAI parameters: %s", sorted(parameters))
        parse_messages(messages)
        provider = self._client.provider
        model = model or getattr(provider, "default_model", "") or "default"
        ident = f"chatcmpl-{secrets.token_hex(12)}"
        created = int(time.time())
        if stream:
            return self._chunks(provider, messages, model, ident, created)
        reply = provider.reply(messages, model=model)
        return ChatCompletion(
            id=ident, created=created, model=model, provider=_name(provider, reply),
            choices=[Choice(0, ChatCompletionMessage(reply.text))],
            usage=CompletionUsage.from_site(reply.usage),
        )

    def _chunks(self, provider: Any, messages: Messages, model: str, ident: str,
                created: int) -> Iterator[ChatCompletionChunk]:
        reply = Reply()
        first = True
        for text in provider.stream(messages, model=model, reply=reply):
            delta = ChoiceDelta(content=text, role="assistant" if first else None)
            first = False
            yield ChatCompletionChunk(ident, created, model, _name(provider, reply),
                                      [ChunkChoice(0, delta)])
        yield ChatCompletionChunk(ident, created, model, _name(provider, reply),
                                  [ChunkChoice(0, ChoiceDelta(content=""), "stop")],
                                  usage=CompletionUsage.from_site(reply.usage))


def _name(provider: Any, reply: Reply) -> str:
    """The provider that answered (with a RetryProvider, the one that did)."""
    name: str = getattr(provider, "name", type(provider).__name__)
    return reply.provider or name


class _Chat:
    def __init__(self, client: Client) -> None:
        self.completions = _Completions(client)


class Client:
    """The OpenAI SDK's shape over these sites.

    >>> from chatgpt_providers import Client, ChatGptt
    >>> client = Client(provider=ChatGptt())       # an instance, class, name or RetryProvider
    >>> result = client.chat.completions.create(
    ...     model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])  # doctest: +SKIP
    >>> result.choices[0].message.content                                  # doctest: +SKIP
    'Hello!'

    ``Client()`` with no provider fails over across both presets. ``options`` create a
    provider given as a class or name (``base_url=``, ``timeout=``, ...).
    """

    def __init__(self, provider: Any = None, **options: Any) -> None:
        self.provider = resolve_provider(provider, **options)
        self.chat = _Chat(self)

    def __repr__(self) -> str:
        return f"Client(provider={self.provider!r})"

    def close(self) -> None:
        """Close the provider's connections.

        >>> Client(provider="chatgptt").close()
        """
        self.provider.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

