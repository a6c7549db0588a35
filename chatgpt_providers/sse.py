"""Server-sent events from a stream of byte pieces, parsed by sseclient-py.

Reads arrive cut anywhere: inside a UTF-8 character, inside ``\\r\\n``, inside a long line.
sseclient-py's own event assembly appends bytes to a growing ``bytes`` object, which is
quadratic when a long line arrives in many small reads or an event has many lines; here
:class:`EventReader` keeps sseclient-py's field parsing (``events()``) and assembles events
in linear time, with caps on an event's size and line count so a hostile server cannot
exhaust memory or CPU. Each event is decoded once it is complete; invalid UTF-8 is replaced.
"""

from __future__ import annotations

from typing import Iterable, Iterator, List

from sseclient import SSEClient

__all__ = ["EventReader", "iter_events", "EventTooLarge", "DEFAULT_MAX_EVENT_BYTES",
           "DEFAULT_MAX_EVENT_LINES"]

#: Largest event (or line) accepted before the stream is abandoned.
DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024
#: Most lines in one event (the plugins send one ``data:`` line per event).
DEFAULT_MAX_EVENT_LINES = 256
_TERMINATORS = (b"\r\r", b"\n\n", b"\r\n\r\n")


class EventTooLarge(Exception):
    """An event grew past a cap before it ended."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"an event with more than {limit} {what}")
        self.limit = limit


class EventReader(SSEClient):
    """sseclient-py's client over an iterable of byte pieces, assembling events linearly.

    >>> reader = EventReader([b'event: message\\ndata: {"a":', b' 1}\\n\\n: ping\\n\\ndata: [DONE]\\n\\n'])
    >>> [event.data for event in reader.events()]
    ['{"a": 1}', '[DONE]']
    """

    def __init__(self, pieces: Iterable[bytes], *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
                 max_event_lines: int = DEFAULT_MAX_EVENT_LINES) -> None:
        super().__init__(_Source(pieces))
        self.max_event_bytes = max_event_bytes
        self.max_event_lines = max_event_lines

    def _read(self) -> Iterator[bytes]:
        """Yield whole events: the same cuts as sseclient-py's ``_read``, in linear time."""
        parts: List[bytes] = []
        size = lines = 0
        tail = b""  # the last bytes of the event so far, to see a terminator cut in two
        for piece in self._event_source:
            for line in piece.splitlines(True):
                parts.append(line)
                size += len(line)
                tail = (tail + line[-4:])[-4:]
                if tail.endswith(_TERMINATORS):
                    yield _valid_utf8(b"".join(parts))
                    parts, size, lines, tail = [], 0, 0, b""
                    continue
                lines += tail.endswith((b"\n", b"\r"))
                if size > self.max_event_bytes:
                    raise EventTooLarge("bytes", self.max_event_bytes)
                if lines > self.max_event_lines:
                    raise EventTooLarge("lines", self.max_event_lines)
        if parts:
            yield _valid_utf8(b"".join(parts))


def _valid_utf8(block: bytes) -> bytes:
    if block.isascii():
        return block
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("utf-8", "replace").encode("utf-8")
    return block


def iter_events(pieces: Iterable[bytes], *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
                max_event_lines: int = DEFAULT_MAX_EVENT_LINES) -> Iterator[str]:
    """Yield the ``data`` of each server-sent event in ``pieces`` (multi-line data joined
    with ``\\n``; comments, ``event:``/``id:`` lines and data-less events skipped).

    >>> list(iter_events([b"data: Hel", b"lo\\r", b"\\n\\r\\ndata: [DONE]\\n\\n"]))
    ['Hello', '[DONE]']
    """
    reader = EventReader(pieces, max_event_bytes=max_event_bytes, max_event_lines=max_event_lines)
    for event in reader.events():
        yield event.data


class _Source:
    """The event-source object sseclient-py wants: iterable, with ``close()``."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._pieces)

    def close(self) -> None:
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()
