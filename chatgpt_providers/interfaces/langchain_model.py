"""The LangChain chat model (``pip install 'chatgpt-providers[langchain]'``):
:class:`ChatProviders`, imported as ``from chatgpt_providers.langchain import ChatProviders``.

Built on a client's ``stream()``: ``invoke``/``stream``/``batch`` with LangChain's message
types, the provider that answered in ``response_metadata``, stop sequences cut client-side,
every token to the callbacks, and the package's errors raised unchanged. The package has no
event loop code: ``ainvoke``/``astream``/``abatch`` are LangChain's own, which run these
synchronous calls in worker threads (each piece of a stream is read in one), so the loop is
never blocked. The plugins have no tool calling and no
structured output, so ``bind_tools`` and ``with_structured_output`` refuse.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables.config import RunnableConfig, get_config_list
from pydantic import ConfigDict, Field, model_validator

from ..core.options import IGNORED_OPTIONS
from ..core.provider import ChatAPI
from ..core.results import Reply

__all__ = ["ChatProviders", "to_messages", "StopCutter"]

#: Why tools and structured output are refused, in the words of the error.
_NO_TOOLS = ("the AI Engine and AI Power chat widgets answer with text only: they have no tool "
             "calling and no structured output")


class ChatProviders(BaseChatModel):
    """A LangChain chat model answering through an AI Engine or AI Power chat widget.

    >>> from chatgpt_providers.langchain import ChatProviders
    >>> from chatgpt_providers.testing import LocalSite
    >>> from langchain_core.messages import HumanMessage, SystemMessage
    >>> with LocalSite() as site:
    ...     chat = ChatProviders(provider="chatgptt", base_url=site.url)
    ...     answer = chat.invoke([SystemMessage("Be brief."), HumanMessage("Hi")])
    >>> answer.content, answer.response_metadata["provider"]
    ('Echo: Be brief.\\n\\nHi', 'ChatGptt')

    Made as ``ChatProviders(provider="chatgptt")`` (a preset, or a protocol client such as
    ``"ai-engine"``, ``"ai-power"`` or ``"aipkit"`` with ``base_url=``: any name
    ``resolve_provider`` takes; ``page=`` and ``bot_id=`` pick the chatbot), or around a client you
    made: ``ChatProviders(client=AIEngine(url))``. No ``provider`` and no ``client``: failover
    across both presets. ``stop`` sequences end the reply where one appears (also per call:
    ``invoke(..., stop=[...])``); ``workers`` threads answer a ``batch``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    #: A provider name, class or list (as ``resolve_provider`` takes); None: both presets.
    provider: Any = None
    base_url: Optional[str] = None
    page: Optional[str] = None
    bot_id: Optional[str] = None
    #: The client that answers: made from the fields above, or passed ready.
    client: Optional[ChatAPI] = Field(default=None, exclude=True)
    stop: Optional[List[str]] = None
    workers: int = 4

    @model_validator(mode="after")
    def _make_client(self) -> ChatProviders:
        site = {name: getattr(self, name) for name in ("base_url", "page", "bot_id")
                if getattr(self, name) is not None}
        if self.client is not None:
            if self.provider is not None or site:
                raise ValueError("pass either client= (a client you made) or provider= with "
                                 "base_url=/page=/bot_id=, not both")
        else:
            from .compat import resolve_provider

            self.client = resolve_provider(self.provider, **site)
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers must be a whole number >= 1; got {self.workers!r}")
        return self

    @property
    def _client(self) -> ChatAPI:
        if self.client is None:  # made by the validator
            raise RuntimeError("ChatProviders has no client")
        return self.client

    @property
    def _llm_type(self) -> str:
        return "chatgpt-providers"

    @property
    def _identifying_params(self) -> Dict[str, Any]:
        client = self._client
        return {"provider": getattr(client, "name", type(client).__name__),
                "base_url": getattr(client, "base_url", None)}

    # -- answering -------------------------------------------------------------------------

    def _stream(self, messages: List[BaseMessage], stop: Optional[List[str]] = None,
                run_manager: Optional[CallbackManagerForLLMRun] = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        # LangChain's stream()/astream() hand each chunk to the callbacks themselves.
        turn = _Turn(self, messages, stop, kwargs)
        for text in turn.texts():
            yield ChatGenerationChunk(message=AIMessageChunk(content=text))
        yield ChatGenerationChunk(message=AIMessageChunk(content="", **turn.metadata()),
                                  generation_info={"finish_reason": "stop"})

    def _generate(self, messages: List[BaseMessage], stop: Optional[List[str]] = None,
                  run_manager: Optional[CallbackManagerForLLMRun] = None,
                  **kwargs: Any) -> ChatResult:
        turn = _Turn(self, messages, stop, kwargs)
        for text in turn.texts():  # invoke(): the callbacks get each token from here
            if run_manager is not None:
                run_manager.on_llm_new_token(text)
        message = AIMessage(content=turn.text, **turn.metadata())
        return ChatResult(generations=[ChatGeneration(message=message,
                                                      generation_info={"finish_reason": "stop"})])

    # -- many at once ----------------------------------------------------------------------

    def batch(self, inputs: List[Any], config: Union[RunnableConfig, List[RunnableConfig], None] = None,
              *, return_exceptions: bool = False, **kwargs: Any) -> List[Any]:
        """Answer every input with threads, by the package's batch rules (results in input
        order, fewer at once after a rate limit, :func:`~chatgpt_providers.interfaces.batch.run_batch`);
        ``config``'s ``max_concurrency`` sets the threads (default ``workers``). A failed input
        raises its error, or takes its place with ``return_exceptions=True``.

        >>> from chatgpt_providers.testing import LocalSite
        >>> with LocalSite() as site:
        ...     answers = ChatProviders(provider="chatgptt", base_url=site.url).batch(["a", "b"])
        >>> [answer.content for answer in answers]
        ['Echo: a', 'Echo: b']
        """
        from .batch import run_batch

        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        workers = configs[0].get("max_concurrency") or self.workers
        results = run_batch(_Invoker(self, kwargs), list(zip(inputs, configs)), workers=workers)
        if not return_exceptions:
            for result in results:
                if isinstance(result, Exception):
                    raise result
        return results

    # -- refused ---------------------------------------------------------------------------

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Optional[str] = None,
                   **kwargs: Any) -> Any:
        """Refused: the chat widgets cannot call tools.

        >>> ChatProviders(provider="chatgptt").bind_tools([])
        Traceback (most recent call last):
        ...
        NotImplementedError: ChatProviders cannot bind tools: the AI Engine and AI Power ...
        """
        raise NotImplementedError(f"ChatProviders cannot bind tools: {_NO_TOOLS}; parse the "
                                  "text of the answer yourself (e.g. with an output parser)")

    def with_structured_output(self, schema: Any, *, include_raw: bool = False,
                               **kwargs: Any) -> Any:
        """Refused: the chat widgets cannot be held to a schema (see :meth:`bind_tools`)."""
        raise NotImplementedError(f"ChatProviders has no structured output: {_NO_TOOLS}; ask for "
                                  "the format in the prompt and parse the text with an output "
                                  "parser (e.g. JsonOutputParser)")


class _Invoker:
    """What :func:`run_batch` calls for each item: ``invoke`` with the item's config."""

    def __init__(self, model: ChatProviders, options: Dict[str, Any]) -> None:
        self.model = model
        self.options = options

    def complete(self, item: Tuple[Any, RunnableConfig]) -> BaseMessage:
        value, config = item
        return self.model.invoke(value, config, **self.options)


class _Turn:
    """One call: the messages sent once, the text as it arrives (cut at a stop sequence), and
    what the reply learned besides."""

    def __init__(self, model: ChatProviders, messages: List[BaseMessage],
                 stop: Optional[List[str]], options: Dict[str, Any]) -> None:
        unknown = sorted(set(options) - IGNORED_OPTIONS - {"stream"})
        if unknown:  # sampling options (temperature=...) are the site's bot settings: ignored
            raise TypeError(f"ChatProviders got unexpected call options {unknown}; it takes "
                            "stop=, and ignores sampling options (the site decides them)")
        self.model = model
        self.client = model._client
        self.messages = to_messages(messages)
        self.cutter = StopCutter(stop if stop is not None else model.stop or [])
        self.reply = Reply()
        self.streamed: List[str] = []

    def texts(self) -> Iterator[str]:
        """The reply's text as it arrives; a stop sequence ends it (and the request)."""
        pieces = self.client.stream(self.messages, reply=self.reply)
        try:
            for piece in pieces:
                text = self.cutter.feed(piece)
                if text:
                    self.streamed.append(text)
                    yield text
                if self.cutter.stopped:
                    return
            rest = self.cutter.flush()
            if rest:
                self.streamed.append(rest)
                yield rest
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()

    @property
    def text(self) -> str:
        """The whole answer: the site's final reply (as ``complete()`` returns it) unless a
        stop sequence cut it."""
        if self.cutter.stopped or self.cutter.active:
            return "".join(self.streamed)
        return self.reply.text

    def metadata(self) -> Dict[str, Any]:
        """``response_metadata`` (and ``usage_metadata`` when the site counted tokens)."""
        found: Dict[str, Any] = {"provider": self.reply.provider or getattr(self.client, "name", None),
                                 "finish_reason": "stop"}
        if self.cutter.stopped:
            found["stop_sequence"] = self.cutter.found
        if self.reply.warnings:
            found["warnings"] = list(self.reply.warnings)
        if self.reply.citations:
            found["citations"] = self.reply.citations
        out: Dict[str, Any] = {"response_metadata": found}
        usage = self.reply.usage or {}
        prompt_tokens, completion_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(prompt_tokens, int) and isinstance(completion_tokens, int):
            out["usage_metadata"] = {"input_tokens": prompt_tokens, "output_tokens": completion_tokens,
                                     "total_tokens": usage.get("total_tokens",
                                                               prompt_tokens + completion_tokens)}
        return out


def to_messages(messages: Sequence[BaseMessage]) -> List[Dict[str, str]]:
    """LangChain messages as the package's ``{"role", "content"}`` messages.

    >>> to_messages([SystemMessage("Be brief."), HumanMessage("Hi")])
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hi'}]
    >>> to_messages([HumanMessage([{"type": "image_url", "image_url": {"url": "x"}}])])
    Traceback (most recent call last):
    ...
    ValueError: messages[0] has a 'image_url' part; ChatProviders sends text only
    """
    out = []
    for index, message in enumerate(messages):
        if isinstance(message, SystemMessage):
            role = "system"
        elif isinstance(message, HumanMessage):
            role = "user"
        elif isinstance(message, AIMessage):
            if message.tool_calls:
                raise ValueError(f"messages[{index}] holds tool calls; {_NO_TOOLS}")
            role = "assistant"
        elif isinstance(message, ChatMessage) and message.role in ("system", "user", "assistant"):
            role = message.role
        else:
            raise ValueError(f"messages[{index}] is a {type(message).__name__}; ChatProviders takes "
                             "SystemMessage, HumanMessage and AIMessage (tool messages: "
                             f"{_NO_TOOLS})")
        out.append({"role": role, "content": _text(index, message.content)})
    return out


def _text(index: int, content: Union[str, List[Any]]) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
        else:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise ValueError(f"messages[{index}] has a {kind!r} part; ChatProviders sends text only")
    return "".join(parts)


class StopCutter:
    """Stop sequences applied to text that arrives in pieces: text is passed on as soon as no
    stop sequence can begin in it, and everything from the first stop sequence on is dropped.

    >>> cutter = StopCutter(["\\nUser:"])
    >>> cutter.feed("Hello\\nUs"), cutter.feed("ed to it"), cutter.feed("\\nUser: more")
    ('Hello', '\\nUsed to it', '')
    >>> cutter.stopped, cutter.found
    (True, '\\nUser:')
    """

    def __init__(self, stops: Sequence[str]) -> None:
        if isinstance(stops, str) or not all(isinstance(stop, str) for stop in stops):
            raise ValueError(f"stop must be a list of strings; got {stops!r}")
        self.stops = [stop for stop in stops if stop]
        self.held = ""
        self.stopped = False
        self.found: Optional[str] = None

    @property
    def active(self) -> bool:
        """Whether any stop sequence is watched for."""
        return bool(self.stops)

    def feed(self, text: str) -> str:
        """The text that can be passed on now (none once stopped)."""
        if self.stopped:
            return ""
        if not self.stops:
            return text
        text = self.held + text
        hits = [(text.find(stop), stop) for stop in self.stops if stop in text]
        if hits:
            at, self.found = min(hits)
            self.stopped, self.held = True, ""
            return text[:at]
        keep = max((k for stop in self.stops for k in range(1, min(len(stop), len(text) + 1))
                    if text.endswith(stop[:k])), default=0)
        self.held = text[len(text) - keep:] if keep else ""
        return text[:len(text) - keep]

    def flush(self) -> str:
        """The text held back at the end of the reply (it began no stop sequence after all)."""
        held, self.held = self.held, ""
        return "" if self.stopped else held
