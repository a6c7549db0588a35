"""Server-sent events from a stream of byte pieces.

Reads arrive cut anywhere: inside a UTF-8 character, inside ``\\r\\n``, inside a long line.
:func:`iter_raw_events` cuts the stream into events with C-level splits (linear in the bytes
however small the reads), with caps on an event's size and line count so a hostile server
cannot exhaust memory or CPU. One UTF-8 byte-order mark at the very start is dropped, as the
SSE standard says. :func:`parse_event` reads an event's fields: the two forms the plugins
send (``data: ...`` alone, or after one ``event: ...`` line) directly, every other event
(comments, ``id:``, multi-line data, fields without a space) through sseclient-py's public
``SSEClient(...).events()``. Invalid UTF-8 is replaced.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, List, Optional, Tuple

from sseclient import SSEClient

__all__ = ["iter_raw_events", "parse_event", "iter_events", "iter_json_events", "json_or_none",
           "strip_bom", "EventTooLarge", "DEFAULT_MAX_EVENT_BYTES", "DEFAULT_MAX_EVENT_LINES"]

#: Largest event (or line) accepted before the stream is abandoned.
DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024
#: Most lines in one event (the plugins send one or two lines per event).
DEFAULT_MAX_EVENT_LINES = 256

BOM = b"\xef\xbb\xbf"

#: One event: ``(name, value, data)``; ``name`` is None for an unnamed event (SSE's
#: "message"), ``value`` the data decoded as JSON or None, ``data`` the text when it is
#: not JSON (else None).
JsonEvent = Tuple[Optional[str], Any, Optional[str]]


class EventTooLarge(Exception):
    """An event grew past a cap before it ended."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"an event with more than {limit} {what}")
        self.limit = limit


def strip_bom(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """``pieces`` without one UTF-8 byte-order mark at the start (even one cut across reads).

    >>> list(strip_bom([b"\\xef", b"\\xbb\\xbfdata: a"]))
    [b'data: a']
    """
    head = b""
    iterator = iter(pieces)
    for piece in iterator:
        head += piece
        if len(head) >= len(BOM) or not BOM.startswith(head):
            break
    if head.startswith(BOM):
        head = head[len(BOM):]
    if head:
        yield head
    yield from iterator


def iter_raw_events(pieces: Iterable[bytes], *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
                    max_event_lines: int = DEFAULT_MAX_EVENT_LINES) -> Iterator[bytes]:
    """Yield each event's bytes (``\\n`` line breaks, no blank line after it).

    Line breaks are normalised to ``\\n`` (a ``\\r`` ending a piece waits for the next one, in
    case a ``\\n`` follows), then the stream is split on blank lines. Each byte is copied a
    bounded number of times, so a long line in small reads costs linear time.

    >>> list(iter_raw_events([b"\\xef\\xbb\\xbfdata: a\\r", b"\\n\\r\\ndata: b\\n", b"\\n: c\\n\\n"]))
    [b'data: a', b'data: b', b': c']
    """
    parts: List[bytes] = []  # the unfinished event
    size = 0
    held_cr = False
    for piece in strip_bom(pieces):
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


def parse_event(raw: bytes) -> Optional[Tuple[Optional[str], str]]:
    """``(name, data)`` of one event from :func:`iter_raw_events`, or None when it has no
    data (a comment, a bare ``id:``). ``name`` is None for an unnamed event (and for one named
    ``message``, SSE's default name), as sseclient-py reads it.

    >>> parse_event(b'data: {"a": 1}'), parse_event(b"event: done\\ndata: {}"), parse_event(b": pad")
    ((None, '{"a": 1}'), ('done', '{}'), None)
    >>> parse_event(b"id: 7\\nevent: error\\ndata:x\\ndata: y")
    ('error', 'x\\ny')
    """
    # The plugins' two forms, read directly (benchmark rows 3 and 4: parse CPU).
    if raw.startswith(b"data: "):
        if b"\n" not in raw:
            if len(raw) > 65536:  # no copy of raw[6:]: peak memory stays near the event's size
                return None, str(memoryview(raw)[6:], "utf-8")
            return None, raw[6:].decode("utf-8")
    elif raw.startswith(b"event: "):
        name_end = raw.find(b"\n")
        if name_end > 0 and raw.startswith(b"data: ", name_end + 1) and b"\n" not in raw[name_end + 1:]:
            name = raw[7:name_end].decode("utf-8")
            return (name if name not in ("", "message") else None), raw[name_end + 7:].decode("utf-8")
    elif raw.startswith(b":") and b"\n" not in raw:
        return None  # a comment, e.g. AIPKit's padding
    for event in SSEClient(iter([raw + b"\n\n"])).events():  # it dispatches events that have data
        return (None if event.event == "message" else event.event), event.data
    return None


def iter_events(pieces: Iterable[bytes], *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
                max_event_lines: int = DEFAULT_MAX_EVENT_LINES) -> Iterator[str]:
    """Yield the ``data`` of each server-sent event in ``pieces`` (multi-line data joined
    with ``\\n``; comments, ``event:``/``id:`` lines and data-less events skipped).

    >>> list(iter_events([b'event: message\\ndata: {"a":', b' 1}\\n\\n: ping\\n\\ndata: [DONE]\\n\\n']))
    ['{"a": 1}', '[DONE]']
    """
    for raw in iter_raw_events(pieces, max_event_bytes=max_event_bytes,
                               max_event_lines=max_event_lines):
        parsed = parse_event(raw)
        if parsed is not None:
            yield parsed[1]


#: The decoder's C scanner, for json_or_none (JSONDecoder.__init__ sets it; typeshed omits it).
_scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def json_or_none(data: Any) -> Any:
    """``data`` (str or bytes) decoded as JSON, or None when it is not JSON (including
    hostile nesting). A leading byte-order mark is ignored.

    >>> json_or_none('{"a": 1}'), json_or_none(" [1] "), json_or_none("[" * 100000), json_or_none("{} x")
    ({'a': 1}, [1], None, None)
    >>> json_or_none(b'\\xef\\xbb\\xbf{"a": 1}')
    {'a': 1}
    """
    if isinstance(data, str):  # the C scanner without json.loads' layers: benchmark row 3 (parse CPU)
        try:
            value, end = _scan_json(data, 0)
        except StopIteration:  # nothing at 0 (whitespace, a BOM, not JSON): json.loads below says
            pass
        except (ValueError, RecursionError):
            return None
        else:
            return value if end == len(data) or not data[end:].strip(" \t\n\r") else None
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode("utf-8", "replace")
    if not isinstance(data, str):
        return None
    if data.startswith("\ufeff"):
        data = data[1:]
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def iter_json_events(pieces: Iterable[bytes], *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
                     max_event_lines: int = DEFAULT_MAX_EVENT_LINES) -> Iterator[JsonEvent]:
    """Yield ``(name, value, None)`` for each event whose data is JSON, ``(name, None, data)``
    otherwise; events without data are skipped.

    Nothing else holds an event's raw bytes or text when it is yielded, so a caller that takes
    a large value out of ``value`` holds the only copy (benchmark row 5: peak memory).

    >>> list(iter_json_events([b'data: {"a": 1}\\n\\nevent: done\\ndata: [DONE]\\n\\n']))
    [(None, {'a': 1}, None), ('done', None, '[DONE]')]
    """
    for raw in iter_raw_events(pieces, max_event_bytes=max_event_bytes,
                               max_event_lines=max_event_lines):
        parsed = parse_event(raw)
        del raw
        if parsed is None:
            continue
        name, text = parsed
        del parsed
        value = json_or_none(text)
        if value is None:
            yield name, None, text
        else:
            del text
            yield name, value, None
