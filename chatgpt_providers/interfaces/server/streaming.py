"""A streamed answer on the wire: OpenAI's chunks as server-sent events, ended by
``data: [DONE]``, or by one ``data: {"error": ...}`` event when the site fails mid-stream.

Constraints: each delta is written as soon as the site sent it (no buffering here; waitress
flushes every chunk); the status line waits for the first text, so a failure before any text
is a real HTTP error; closing the body (every WSGI server does, also when the caller left)
closes the site's stream and logs the request once.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterator, Optional, Tuple

from ... import errors
from ...core.provider import ChatAPI
from ...core.results import Reply
from ..openai_translation import CompletionRequest, cut_at_stop
from ..openai_types import ChatCompletionChunk
from .api_errors import APIError, error_for
from .disconnects import Watch
from .models import close_quietly
from .request import Exchange

__all__ = ["dumps", "ChunkEncoder", "request_texts", "StreamBody", "SSE_HEADERS"]

log = logging.getLogger("chatgpt_providers")

#: The headers of every streamed answer (X-Accel-Buffering: nginx must not buffer it).
SSE_HEADERS = (("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache"),
               ("X-Accel-Buffering", "no"))
_DONE = b"data: [DONE]\n\n"
_MARK = "\u0000text\u0000"  # stands for a chunk's text in the per-stream template


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as OpenAI sends it.

    >>> dumps({"a": "é"})
    b'{"a":"\\xc3\\xa9"}'
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ChunkEncoder:
    """A stream's chunks as SSE ``data:`` events in OpenAI's wire form: ``usage`` present
    (null until the last chunk) only when asked for, ``delta`` without null fields. A plain
    text delta is the stream's template with the text put in: no object tree per delta.

    >>> from chatgpt_providers.interfaces.openai_types import ChunkChoice, ChoiceDelta
    >>> event = ChunkEncoder(False).encode(ChatCompletionChunk(
    ...     "c", 0, "m", "P", [ChunkChoice(0, ChoiceDelta(content="Hi"))]))
    >>> event[:20], b'"delta":{"content":"Hi"}' in event, b"usage" in event
    (b'data: {"id":"c","cre', True, False)
    """

    __slots__ = ("include_usage", "_template")

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self._template: Optional[Tuple[str, bytes, bytes]] = None  # (provider, head, tail)

    def encode(self, chunk: ChatCompletionChunk) -> bytes:
        """One ``data:`` event (see the class example)."""
        choice = chunk.choices[0] if chunk.choices else None
        if (choice is not None and choice.finish_reason is None and choice.delta.role is None
                and chunk.usage is None and choice.delta.content is not None):
            template = self._template
            if template is None or template[0] != chunk.provider:
                choice.delta.content, text = _MARK, choice.delta.content
                head, _, tail = self._dump(chunk).partition(dumps(_MARK))
                choice.delta.content = text
                template = self._template = (chunk.provider, head, tail)
            return template[1] + dumps(choice.delta.content) + template[2]
        return self._dump(chunk)

    def _dump(self, chunk: ChatCompletionChunk) -> bytes:
        value = chunk.model_dump()
        for item in value["choices"]:
            item["delta"] = {k: v for k, v in item["delta"].items() if v is not None}
        if not self.include_usage:
            value.pop("usage")
        return b"data: " + dumps(value) + b"\n\n"


def request_texts(client: ChatAPI, request: CompletionRequest, reply: Reply) -> Iterator[str]:
    """The reply's texts cut at ``stop``; the call starts (and the plugin's ``check`` raises)
    at the first ``next``, so every failure before the first text is answered alike."""
    yield from cut_at_stop(client.stream(request.messages, reply=reply), request.stop)


def _events(model: str, first: ChatCompletionChunk, chunks: Iterator[ChatCompletionChunk],
            encoder: ChunkEncoder, exchange: Exchange) -> Iterator[bytes]:
    try:
        yield encoder.encode(first)
        for chunk in chunks:
            yield encoder.encode(chunk)
        yield _DONE
    except errors.ProviderError as exc:
        answer = error_for(exc)
        exchange.outcome = f"{answer.code} after {len(exc.partial_text)} characters"
        yield b"data: " + dumps(answer.body()) + b"\n\n"
    except Exception:
        log.exception("internal error while streaming %s", model)
        exchange.outcome = "internal_error"
        yield b"data: " + dumps(APIError(500, "internal error in chatgpt-providers; see the "
                                              "server's log", type="server_error",
                                         code="internal_error").body()) + b"\n\n"
    except GeneratorExit:
        exchange.outcome = "client_gone"
        raise
    finally:
        close_quietly(chunks)
        exchange.log()


class StreamBody:
    """A streamed answer, the WSGI response iterable. Every WSGI server calls ``close()``
    when the response ends or the caller went away: it ends the site's stream and logs the
    request, even when the events were never iterated."""

    __slots__ = ("_events", "_chunks", "_exchange", "_watch")

    def __init__(self, model: str, first: ChatCompletionChunk, chunks: Iterator[ChatCompletionChunk],
                 encoder: ChunkEncoder, exchange: Exchange, watching: Optional[Watch] = None) -> None:
        self._events = _events(model, first, chunks, encoder, exchange)
        self._chunks = chunks
        self._exchange = exchange
        self._watch = watching

    def __iter__(self) -> Iterator[bytes]:
        return self._events

    def close(self) -> None:
        """End the site's stream and log the request (once)."""
        try:
            self._events.close()  # type: ignore[attr-defined]
            close_quietly(self._chunks)
        finally:
            if self._watch is not None:
                self._watch.end()
            self._exchange.log()
