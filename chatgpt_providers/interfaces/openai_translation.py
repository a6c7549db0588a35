"""The one translation between OpenAI's chat completion requests and these sites, shared by the
Python :class:`~chatgpt_providers.interfaces.openai_style.Client` and the API server
(:mod:`chatgpt_providers.interfaces.server`), so that both accept the same requests and give
the same answers:

- **messages**: a string, or a list of ``{"role", "content"}`` objects whose content is a
  string or a list of ``{"type": "text", "text": ...}`` parts; roles ``system``,
  ``developer`` (a system message), ``user`` and ``assistant`` (:func:`normalize_messages`);
- **parameters**: one table (:data:`HONOURED`, :data:`IGNORED_PARAMETERS`, :data:`REFUSED`)
  read by :func:`translate_request`; ``stop`` is honoured (:class:`StopCut`);
- **answers**: :func:`completion` and :func:`completion_chunks` build OpenAI's shapes
  (:mod:`~chatgpt_providers.interfaces.openai_types`), with the usage chunk when
  ``stream_options.include_usage`` is set, and name the provider that answered.

A request the sites cannot honour raises :class:`RequestError` (a ``ValueError``) carrying the
parameter and OpenAI's error code; the ``Client`` raises it as it is, the server answers it as
400 in OpenAI's error JSON. Unknown parameters are listed in
:attr:`CompletionRequest.unknown`: the ``Client`` raises ``TypeError`` for them, as Python
does for a keyword it does not take; the server ignores them (logged), as HTTP clients send
extras by habit.

>>> request = translate_request({"model": "gpt-4o", "stop": "\\n", "temperature": 0.2,
...     "messages": [{"role": "developer", "content": "Be brief."},
...                  {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]})
>>> request.messages, request.stop, request.ignored
([{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hi'}], ('\\n',), ['temperature'])
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Callable, Dict, FrozenSet, Iterator, List, Mapping, Optional, Sequence, Tuple, cast

from ..core.messages import parse_messages
from ..core.options import GPT4FREE_OPTIONS, SAMPLING_OPTIONS
from ..core.record import Record
from ..core.results import Reply
from .openai_types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    CompletionUsage,
)

__all__ = ["RequestError", "CompletionRequest", "HONOURED", "IGNORED_PARAMETERS", "REFUSED",
           "normalize_messages", "translate_request", "StopCut", "cut_at_stop", "full_usage",
           "provider_name", "new_completion_id", "completion", "completion_chunks"]

#: Request fields that change what is done: the message, the stream and its options, ``n``
#: (only 1), ``stop`` (the text is cut before the first stop sequence), ``user`` or
#: ``safety_identifier`` (the end user: see :attr:`CompletionRequest.user`).
HONOURED: FrozenSet[str] = frozenset({"model", "messages", "stream", "stream_options", "n", "stop",
                                      "user", "safety_identifier"})

#: OpenAI parameters that make no sense for these sites, and gpt4free's extras (``web_search``,
#: ``api_key``, ...): accepted and ignored (the site's bot settings decide them).
IGNORED_PARAMETERS: FrozenSet[str] = (SAMPLING_OPTIONS | GPT4FREE_OPTIONS | frozenset({
    "user", "metadata", "store", "service_tier", "parallel_tool_calls", "prompt_cache_key",
    "safety_identifier", "verbosity", "web_search_options",
})) - HONOURED

_NO_TOOLS = "the sites' chatbots cannot call tools or functions"
_TEXT_ONLY = "the sites answer in text only"
_FIXED = "the sites' requests are fixed by their plugin; there is no {} to extend"

#: OpenAI parameters asking for what the sites cannot do: for each, the values that ask for
#: nothing (accepted) and why any other value is refused.
REFUSED: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "response_format": (
        lambda v: v is None or (isinstance(v, Mapping) and v.get("type") == "text"),
        "the sites answer in free text chosen by their bot and cannot be held to JSON mode or "
        "a schema; ask for JSON in the message and parse the reply yourself"),
    "tools": (lambda v: not v, _NO_TOOLS),
    "functions": (lambda v: not v, _NO_TOOLS),
    "tool_choice": (lambda v: v is None or v in ("none", "auto"),
                    f"{_NO_TOOLS}; only 'none' or 'auto' can be honoured"),
    "function_call": (lambda v: v is None or v in ("none", "auto"),
                      f"{_NO_TOOLS}; only 'none' or 'auto' can be honoured"),
    "logprobs": (lambda v: not v, "the sites do not report token probabilities"),
    "top_logprobs": (lambda v: v is None, "the sites do not report token probabilities"),
    "audio": (lambda v: v is None, _TEXT_ONLY),
    "modalities": (lambda v: v is None or (isinstance(v, list) and v == ["text"]), _TEXT_ONLY),
    "prediction": (lambda v: v is None, "the sites take no predicted output"),
    "extra_query": (lambda v: not v, _FIXED.format("query")),
    "extra_body": (lambda v: not v, _FIXED.format("body")),
}

_STREAM_OPTIONS = ("include_usage", "include_obfuscation")


class RequestError(ValueError):
    """A request the sites cannot honour, or a malformed one: ``param`` names the field and
    ``code`` is OpenAI's error code for it.

    >>> err = RequestError("n must be 1", param="n", code="unsupported_value")
    >>> str(err), err.param
    ('n must be 1', 'n')
    """

    def __init__(self, message: str, *, param: Optional[str] = None,
                 code: str = "invalid_value") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class CompletionRequest(Record):
    """A checked request: ``messages`` in the shape every client takes, ``stop`` sequences
    (empty: none), the stream switches, the end user the caller named (``user``, else
    ``safety_identifier``; None if neither), the ignored and unknown parameter names."""

    __slots__ = ("messages", "model", "stream", "include_usage", "stop", "user", "ignored", "unknown")
    messages: List[Dict[str, str]]
    model: Optional[str]
    stream: bool
    include_usage: bool
    stop: Tuple[str, ...]
    user: Optional[str]
    ignored: List[str]
    unknown: List[str]


# -- messages -------------------------------------------------------------------------------


def _text_of(index: int, content: Any) -> str:
    """A message's content as text: a string, or OpenAI's list of text parts (joined by a
    newline, as the parts of one message are read)."""
    where = f"messages[{index}].content"
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
            if kind != "text" or not isinstance(part.get("text"), str):
                raise RequestError(f"{where} has a part of type {kind!r}; these sites take text "
                                   "parts only ({\"type\": \"text\", \"text\": ...})",
                                   param=where, code="unsupported_content")
            texts.append(part["text"])
        return "\n".join(texts)
    raise RequestError(f"{where} must be a string or a list of text parts; got "
                       f"{type(content).__name__}", param=where)


def _check_unicode(index: int, text: str) -> None:
    """Refuse text that cannot be sent as UTF-8 (a lone surrogate, e.g. from a JSON ``\\ud800``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise RequestError(f"messages[{index}].content holds a lone surrogate "
                           f"(U+{ord(bad):04X} at character {exc.start}), which is not text; "
                           "send valid Unicode", param=f"messages[{index}].content") from None


def normalize_messages(value: Any) -> List[Dict[str, str]]:
    """OpenAI's ``messages`` as every client here takes them: ``developer`` becomes
    ``system``, text parts are joined, tool turns refused; then checked as
    :func:`~chatgpt_providers.core.messages.parse_messages` checks them.

    >>> normalize_messages("Hi")
    [{'role': 'user', 'content': 'Hi'}]
    >>> normalize_messages([{"role": "user", "content": [{"type": "image_url"}]}])
    Traceback (most recent call last):
    ...
    chatgpt_providers...RequestError: messages[0].content has a part of type 'image_url'; ...
    """
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    if not isinstance(value, (list, tuple)) or not value:
        raise RequestError("messages must be a non-empty list of {\"role\", \"content\"} objects "
                           "ending with the user's turn (or a string)", param="messages",
                           code="missing_required_parameter" if value is None else "invalid_value")
    out: List[Dict[str, Any]] = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise RequestError(f"messages[{index}] must be an object like "
                               "{\"role\": \"user\", \"content\": \"Hi\"}", param="messages")
        role = item.get("role")
        if role in ("tool", "function") or item.get("tool_calls") or item.get("function_call"):
            raise RequestError(f"messages[{index}] is a tool call or result; {_NO_TOOLS}",
                               param="messages", code="unsupported_parameter")
        if role == "developer":
            role = "system"
        text = _text_of(index, item.get("content"))
        _check_unicode(index, text)
        out.append({"role": role, "content": text})  # a bad role: parse_messages says so
    try:
        parse_messages(out)
    except ValueError as exc:
        raise RequestError(str(exc), param="messages") from None
    return cast(List[Dict[str, str]], out)  # parse_messages checked every role and content


# -- parameters -----------------------------------------------------------------------------


def _stop_sequences(value: Any) -> Tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(s, str) for s in items):
        raise RequestError(f"stop must be a string or a list of strings; got {value!r}",
                           param="stop", code="invalid_type")
    return tuple(dict.fromkeys(s for s in items if s))  # "" would stop before any text


def translate_request(body: Mapping[str, Any]) -> CompletionRequest:
    """Check a chat completion request (the JSON body, or the ``Client``'s keywords) against
    the parameter table and normalise its messages; :class:`RequestError` for what cannot be
    honoured (see the module's example).

    >>> translate_request({"messages": "Hi", "tool_choice": "required"})
    Traceback (most recent call last):
    ...
    chatgpt_providers...RequestError: tool_choice='required': the sites' chatbots cannot call tools ...
    """
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestError(f"stream must be true or false; got {stream!r}", param="stream",
                           code="invalid_type")
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise RequestError(f"n={n!r}: n must be 1, the sites give one answer per message; ask "
                           "once per answer you need", param="n", code="unsupported_value")
    for name, (harmless, why) in REFUSED.items():
        if name in body and not harmless(body[name]):
            raise RequestError(f"{name}={body[name]!r}: {why}", param=name,
                               code="unsupported_parameter")
    include_usage = False
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, Mapping):
            raise RequestError("stream_options must be an object like {\"include_usage\": true}",
                               param="stream_options", code="invalid_type")
        if not stream:
            raise RequestError("stream_options applies only to a stream (stream: true)",
                               param="stream_options")
        extra = sorted(set(options) - set(_STREAM_OPTIONS))
        if extra:
            raise RequestError(f"stream_options keys {extra} are not supported; include_usage is",
                               param="stream_options", code="unsupported_parameter")
        include_usage = bool(options.get("include_usage"))
    stop = _stop_sequences(body.get("stop"))
    model = body.get("model")
    user = next((value for value in (body.get("user"), body.get("safety_identifier"))
                 if isinstance(value, str) and value), None)
    messages = normalize_messages(body.get("messages"))
    known = HONOURED | IGNORED_PARAMETERS | set(REFUSED)
    return CompletionRequest(
        messages=messages, model=model if isinstance(model, str) else None,
        stream=bool(stream), include_usage=include_usage, stop=stop, user=user,
        ignored=sorted(set(body) & IGNORED_PARAMETERS),
        unknown=sorted(str(name) for name in set(body) - known))


# -- stop sequences ---------------------------------------------------------------------------


class StopCut:
    """The text of a reply cut before the first stop sequence, fed piece by piece: each
    :meth:`feed` returns what can be shown now, holding back only a tail that could be the
    start of a stop sequence; :meth:`finish` returns what was held at the end of the reply.
    Once ``stopped`` is true, the reply is complete and the rest need not be read.

    >>> cut = StopCut(["END"])
    >>> cut.feed("Hello E"), cut.feed("N"), cut.feed("Dless"), cut.stopped
    ('Hello ', '', '', True)
    >>> cut = StopCut(["END"]); cut.feed("Hello E"), cut.finish()
    ('Hello ', 'E')
    """

    __slots__ = ("stops", "held", "stopped", "_longest")

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.held = ""
        self.stopped = False
        self._longest = max((len(s) for s in self.stops), default=0)

    def feed(self, text: str) -> str:
        """What of ``text`` (after anything held) can be shown now; "" once stopped."""
        if self.stopped:
            return ""
        buffer = self.held + text
        found = [i for i in (buffer.find(s) for s in self.stops) if i >= 0]
        cut = min(found) if found else len(buffer)
        # A stop sequence starting before ``cut`` but not yet complete would end the text
        # earlier, so hold from its start; only the last ``longest - 1`` characters can be one.
        for start in range(max(0, len(buffer) - self._longest + 1), cut):
            tail = buffer[start:]
            if any(len(s) > len(tail) and s.startswith(tail) for s in self.stops):
                self.held = buffer[start:]
                return buffer[:start]
        self.held = ""
        if found:
            self.stopped = True
        return buffer[:cut]

    def finish(self) -> str:
        """What was held back, at the end of the reply (cut at a stop sequence inside it)."""
        held, self.held = self.held, ""
        if self.stopped:
            return ""
        found = [i for i in (held.find(s) for s in self.stops) if i >= 0]
        if found:
            self.stopped = True
            return held[:min(found)]
        return held


def cut_at_stop(texts: Iterator[str], stops: Sequence[str]) -> Iterator[str]:
    """``texts`` cut before the first of ``stops``; at a stop sequence the rest is not read and
    ``texts`` is closed (its connection with it). Closing this closes ``texts``.

    >>> list(cut_at_stop(iter(["Echo: ", "Hi", " there"]), ["Hi"]))
    ['Echo: ']
    """
    if not stops:
        yield from texts
        return
    cut = StopCut(stops)
    try:
        for text in texts:
            shown = cut.feed(text)
            if shown:
                yield shown
            if cut.stopped:
                return
        rest = cut.finish()
        if rest:
            yield rest
    finally:
        close = getattr(texts, "close", None)
        if close is not None:
            close()


# -- answers ---------------------------------------------------------------------------------


def full_usage(raw: Any) -> Optional[CompletionUsage]:
    """OpenAI's ``usage`` from the site's figures: all three numbers (a missing one derived
    from the other two), or None. Never invented.

    >>> full_usage({"prompt_tokens": 3, "completion_tokens": 2})
    CompletionUsage(prompt_tokens=3, completion_tokens=2, total_tokens=5)
    >>> full_usage({"total_tokens": 5}) is None, full_usage(None) is None
    (True, True)
    """
    usage = CompletionUsage.from_site(raw)
    if usage is None:
        return None
    prompt, completion_, total = usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
    if total is None and prompt is not None and completion_ is not None:
        total = prompt + completion_
    elif completion_ is None and prompt is not None and total is not None and total >= prompt:
        completion_ = total - prompt
    elif prompt is None and completion_ is not None and total is not None and total >= completion_:
        prompt = total - completion_
    if prompt is None or completion_ is None or total is None:
        return None
    return CompletionUsage(prompt, completion_, total)


def provider_name(client: Any, reply: Reply) -> str:
    """The provider that answered: with a RetryProvider, the one that did.

    >>> from chatgpt_providers import ChatGptt
    >>> provider_name(ChatGptt(), Reply())
    'ChatGptt'
    """
    return str(reply.provider or getattr(client, "name", type(client).__name__))


def new_completion_id() -> str:
    """A fresh ``chatcmpl-...`` id.

    >>> new_completion_id().startswith("chatcmpl-")
    True
    """
    return f"chatcmpl-{secrets.token_hex(12)}"


def completion(client: Any, model: str, reply: Reply, text: Optional[str] = None) -> ChatCompletion:
    """The non-streamed answer: ``text`` (default ``reply.text``) as OpenAI's ``ChatCompletion``.

    >>> from chatgpt_providers import ChatGptt
    >>> done = completion(ChatGptt(), "gpt-4o", Reply(final_text="Hi!"))
    >>> done.choices[0].message.content, done.provider, done.usage
    ('Hi!', 'ChatGptt', None)
    """
    return ChatCompletion(
        id=new_completion_id(), created=int(time.time()), model=model,
        provider=provider_name(client, reply),
        choices=[Choice(0, ChatCompletionMessage(reply.text if text is None else text))],
        usage=full_usage(reply.usage))


def completion_chunks(client: Any, model: str, texts: Iterator[str], reply: Reply, *,
                      include_usage: bool = False) -> Iterator[ChatCompletionChunk]:
    """The streamed answer as OpenAI sends it: a chunk per text (the first one also says
    ``role: "assistant"``), a last chunk with ``finish_reason: "stop"``, and with
    ``include_usage`` one more with empty ``choices`` and the ``usage`` (None when the site
    reported none). Without ``include_usage`` the last chunk carries the usage the site
    reported. Closing this closes ``texts``.

    >>> from chatgpt_providers import ChatGptt
    >>> chunks = list(completion_chunks(ChatGptt(), "m", iter(["Hi", "!"]), Reply(),
    ...                                 include_usage=True))
    >>> [(c.choices[0].delta.content, c.choices[0].finish_reason) if c.choices else "usage"
    ...  for c in chunks]
    [('Hi', None), ('!', None), ('', 'stop'), 'usage']
    """
    ident, created = new_completion_id(), int(time.time())
    first = True
    try:
        for text in texts:
            delta = ChoiceDelta(content=text, role="assistant" if first else None)
            first = False
            yield ChatCompletionChunk(ident, created, model, provider_name(client, reply),
                                      [ChunkChoice(0, delta)])
    finally:
        close = getattr(texts, "close", None)
        if close is not None:
            close()  # stopping early closes the connection at once
    usage = full_usage(reply.usage)
    name = provider_name(client, reply)
    # An empty reply still says who speaks, as OpenAI's first chunk always does.
    last = ChoiceDelta(content="", role="assistant" if first else None)
    yield ChatCompletionChunk(ident, created, model, name, [ChunkChoice(0, last, "stop")],
                              usage=None if include_usage else usage)
    if include_usage:
        yield ChatCompletionChunk(ident, created, model, name, [], usage=usage)
