"""Server-sent events from a stream of byte pieces.

Reads arrive cut anywhere: inside a UTF-8 character, inside ``\\r\\n``, inside a long line.
:func:`iter_events` cuts the stream into events with C-level splits (linear in the bytes
however small the reads: sseclient-py's own assembly appends to a growing ``bytes`` and is
quadratic on long lines), with caps on an event's size and line count so a hostile server
cannot exhaust memory or CPU. An event that is one ``data: ...`` line, the form both plugins
send, is taken as is; every other event (``event:``/``id:``/comment lines, multi-line data,
fields without a space) is parsed by sseclient-py. Invalid UTF-8 is replaced.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable, Iterator, List, Optional, Tuple, Union

from sseclient import SSEClient

__all__ = ["iter_events", "iter_json_events", "iter_raw_events", "json_or_none", "EventTooLarge",
           "DEFAULT_MAX_EVENT_BYTES", "DEFAULT_MAX_EVENT_LINES"]

#: Largest event (or line) accepted before the stream is abandoned.
DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024
#: Most lines in one event (the plugins send one ``data:`` line per event).
DEFAULT_MAX_EVENT_LINES = 256

log = logging.getLogger(__name__)


class EventTooLarge(Exception):
    """An event grew past a cap before it ended."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"an event with more than {limit} {what}")
        self.limit = limit


def iter_raw_events(pieces: Iterable[bytes], *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
                    max_event_lines: int = DEFAULT_MAX_EVENT_LINES) -> Iterator[bytes]:
    """Yield each event's bytes (``\\n`` line breaks, no blank line after it).

    Line breaks are normalised to ``\\n`` (a ``\\r`` ending a piece waits for the next one, in
    case a ``\\n`` follows), then the stream is split on blank lines. Each byte is copied a
    bounded number of times, so a long line in small reads costs linear time.

    >>> list(iter_raw_events([b"data: a\\r", b"\\n\\r\\ndata: b\\n", b"\\n: c\\n\\n"]))
    [b'data: a', b'data: b', b': c']
    """
    parts: List[bytes] = []  # the unfinished event
    size = 0
    held_cr = False
    for piece in pieces:
        if held_cr:
            piece = b"\r" + piece
            held_cr = False
        if piece.endswith(b"\r"):
            piece = piece[:-1]
            held_cr = True
        if b"\r" in piece:
            piece = piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if not piece:
            continue
        if parts and piece[0] == 10 and parts[-1].endswith(b"\n"):  # b"\n" + b"\n" across reads
            parts[-1] = parts[-1][:-1]
            yield _finish(parts, max_event_lines, max_event_bytes)
            size = 0
            piece = piece[1:]
        segments = piece.split(b"\n\n")
        if len(segments) > 1:
            parts.append(segments[0])
            segments[0] = b""
            yield _finish(parts, max_event_lines, max_event_bytes)
            for index in range(1, len(segments) - 1):
                segment, segments[index] = segments[index], b""
                yield _finish([segment], max_event_lines, max_event_bytes)
                del segment
            last = segments[-1]
            del segments
            if last:
                parts.append(last)
            size = len(last)
        else:
            parts.append(piece)
            size += len(piece)
        if size > max_event_bytes:
            raise EventTooLarge("bytes", max_event_bytes)
    if held_cr:
        parts.append(b"\n")
    if parts:
        event = b"".join(parts).rstrip(b"\n")
        parts.clear()
        if event:
            yield _finish([event], max_event_lines, max_event_bytes)


def _finish(parts: List[bytes], max_lines: int, max_bytes: int = 0) -> bytes:
    """Join an event's pieces (emptying ``parts``, so they are freed) and check it."""
    event = parts[0] if len(parts) == 1 else b"".join(parts)
    parts.clear()
    if max_bytes and len(event) > max_bytes:
        raise EventTooLarge("bytes", max_bytes)
    if event.count(b"\n") >= max_lines:
        raise EventTooLarge("lines", max_lines)
    if not event.isascii():
        try:
            event.decode("utf-8")
        except UnicodeDecodeError:
            event = event.decode("utf-8", "replace").encode("utf-8")
    return event


def iter_events(pieces: Iterable[bytes], *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
                max_event_lines: int = DEFAULT_MAX_EVENT_LINES) -> Iterator[str]:
    """Yield the ``data`` of each server-sent event in ``pieces`` (multi-line data joined
    with ``\\n``; comments, ``event:``/``id:`` lines and data-less events skipped).

    >>> list(iter_events([b'event: message\\ndata: {"a":', b' 1}\\n\\n: ping\\n\\ndata: [DONE]\\n\\n']))
    ['{"a": 1}', '[DONE]']
    """
    for event in iter_raw_events(pieces, max_event_bytes=max_event_bytes,
                                 max_event_lines=max_event_lines):
        if event.startswith(b"data: ") and b"\n" not in event:
            yield event[6:].decode("utf-8")
        else:
            for parsed in _OneEvent(event).events():
                yield parsed.data


_scan_json = json.JSONDecoder().scan_once  # the decoder's C scanner, without json.loads' layers


def json_or_none(data: Union[str, bytes, None]) -> Any:
    """``data`` decoded as JSON, or None when it is not JSON (including hostile nesting).

    Accepts exactly what ``json.loads`` accepts; a str goes straight to the decoder's
    scanner, which saves a third of the cost on the small events streams are made of.

    >>> json_or_none('{"a": 1}'), json_or_none(" [1] "), json_or_none("[" * 100000), json_or_none("{} x")
    ({'a': 1}, [1], None, None)
    """
    try:
        if isinstance(data, str):
            try:
                value, end = _scan_json(data, 0)
            except StopIteration:  # nothing at 0: leading whitespace, or not JSON at all
                return json.loads(data)
            if end == len(data) or not data[end:].strip(" \t\n\r"):
                return value
            return None
        return json.loads(data)  # type: ignore[arg-type]
    except (ValueError, TypeError, RecursionError):
        return None


def iter_json_events(pieces: Iterable[bytes], *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
                     max_event_lines: int = DEFAULT_MAX_EVENT_LINES
                     ) -> Iterator[Tuple[Any, Optional[str]]]:
    """Yield ``(value, None)`` for each event whose data is JSON, ``(None, data)`` otherwise.

    The raw bytes and the decoded text are released before each yield, so a caller that
    takes a large value out of ``value`` holds the only copy (an 8 MB final event is not
    kept three times over).

    >>> list(iter_json_events([b'data: {"a": 1}\\n\\ndata: [DONE]\\n\\n']))
    [({'a': 1}, None), (None, '[DONE]')]
    """
    for raw in iter_raw_events(pieces, max_event_bytes=max_event_bytes,
                               max_event_lines=max_event_lines):
        if raw.startswith(b"data: ") and b"\n" not in raw:
            text: Optional[str] = str(memoryview(raw)[6:], "utf-8")
            raw = None  # type: ignore[assignment]
            value = json_or_none(text)
            if value is not None:
                text = None
            yield value, text
        else:
            for parsed in _OneEvent(raw).events():
                value = json_or_none(parsed.data)
                yield value, (None if value is not None else parsed.data)


class _OneEvent(SSEClient):
    """sseclient-py's field parsing applied to one complete event."""

    def __init__(self, event: bytes) -> None:  # no event source: the event is already cut
        self._event = event
        self._char_enc = "utf-8"
        self._logger = log

    def _read(self) -> Iterator[bytes]:
        yield self._event
