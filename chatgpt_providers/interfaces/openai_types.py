"""OpenAI's result types (``openai.types.chat``'s names) as plain dataclasses with the SDK's
``model_dump()``, ``model_dump_json()``, ``to_dict()`` and ``to_json()``; no pydantic.

One home for the shapes that :class:`~chatgpt_providers.interfaces.openai_style.Client` returns
and that the API server (:mod:`chatgpt_providers.interfaces.server`) sends as JSON; both build
them through :mod:`chatgpt_providers.interfaces.openai_translation`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

__all__ = ["CompletionUsage", "ChatCompletionMessage", "Choice", "ChatCompletion", "ChoiceDelta",
           "ChunkChoice", "ChatCompletionChunk", "Model", "ModelPage"]

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
