"""Server-sent events from a stream of byte pieces, parsed by sseclient-py.

Reads arrive cut anywhere: inside a UTF-8 character, inside ``\\r\\n``, inside a long line.
:func:`whole_lines` regroups them into blocks that end at a line break (linear in the
bytes, however small the reads), so sseclient-py only ever sees whole lines, and each
event is decoded once it is complete.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, List

from sseclient import SSEClient

__all__ = ["iter_events", "whole_lines", "DEFAULT_MAX_EVENT_BYTES", "EventTooLarge"]

#: Largest line or event accepted before the stream is abandoned.
DEFAULT_MAX_EVENT_BYTES = 32 * 1024 * 1024


class EventTooLarge(Exception):
    """A line grew past the cap without a line break."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"an event line reached {size} bytes without ending (limit {limit})")
        self.size = size
        self.limit = limit


def whole_lines(pieces: Iterable[bytes], max_line_bytes: int = DEFAULT_MAX_EVENT_BYTES
                ) -> Iterator[bytes]:
    """Regroup byte pieces into blocks that end right after a ``\\n`` or ``\\r``.

    Bytes after the last line break wait for the next piece; what is left when the input
    ends comes last. Invalid UTF-8 is replaced (U+FFFD) so it cannot stop the stream.

    >>> list(whole_lines([b"data: a", b"b\\n\\nda", b"ta: c\\r", b"\\n\\r\\n"]))
    [b'data: ab\\n\\n', b'data: c\\r', b'\\n\\r\\n']
    """
    pending: List[bytes] = []
    pending_size = 0
    for piece in pieces:
        cut = max(piece.rfind(b"\n"), piece.rfind(b"\r"))
        if cut < 0:
            pending.append(piece)
            pending_size += len(piece)
            if pending_size > max_line_bytes:
                raise EventTooLarge(pending_size, max_line_bytes)
            continue
        head = piece[: cut + 1]
        if pending:
            pending.append(head)
            head = b"".join(pending)
            pending = []
        yield _valid_utf8(head)
        rest = piece[cut + 1:]
        pending_size = len(rest)
        if rest:
            pending.append(rest)
    if pending:
        yield _valid_utf8(b"".join(pending))


def _valid_utf8(block: bytes) -> bytes:
    if block.isascii():
        return block
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("utf-8", "replace").encode("utf-8")
    return block


def iter_events(pieces: Iterable[bytes], *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
                on_close: Callable[[], None] = lambda: None) -> Iterator[str]:
    """Yield the ``data`` of each server-sent event in ``pieces`` (multi-line data joined
    with ``\\n``; comments, ``event:`` and ``id:`` lines and data-less events skipped).

    >>> list(iter_events([b'event: message\\ndata: {"a":', b' 1}\\n\\n: ping\\n\\ndata: [DONE]\\n\\n']))
    ['{"a": 1}', '[DONE]']
    """
    source = _Source(whole_lines(pieces, max_event_bytes), on_close)
    for event in SSEClient(source).events():
        yield event.data


class _Source:
    """The event-source object sseclient-py wants: iterable, with ``close()``."""

    def __init__(self, blocks: Iterator[bytes], on_close: Callable[[], None]) -> None:
        self._blocks = blocks
        self.close = on_close

    def __iter__(self) -> Iterator[bytes]:
        return self._blocks
