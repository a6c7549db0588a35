import json

import pytest

from chatgpt_providers.sse import EventTooLarge, iter_events, whole_lines

STREAM = (
    'event: message\r\ndata: {"t":"Привет, 世界 🙂"}\r\n\r\n'
    ': comment\r\n\r\n'
    'data: {"t":"two"}\r\n\r\n'
    'data: [DONE]\r\n\r\n'
).encode()
EXPECTED = ['{"t":"Привет, 世界 🙂"}', '{"t":"two"}', "[DONE]"]


def test_events_from_one_piece():
    assert list(iter_events([STREAM])) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_every_two_piece_split_gives_the_same_events(cut):
    """Includes cuts inside multi-byte characters and inside \\r\\n."""
    assert list(iter_events([STREAM[:cut], STREAM[cut:]])) == EXPECTED


def test_byte_by_byte_gives_the_same_events():
    assert list(iter_events(STREAM[i:i + 1] for i in range(len(STREAM)))) == EXPECTED


def test_lf_only_and_multiline_data():
    assert list(iter_events([b"data: a\ndata: b\n\ndata: c\n\n"])) == ["a\nb", "c"]


def test_invalid_utf8_is_replaced_not_fatal():
    events = list(iter_events([b'data: {"t":"ok \xff\xfe"}\n\n']))
    assert json.loads(events[0]) == {"t": "ok \ufffd\ufffd"}


def test_a_line_that_never_ends_is_capped():
    with pytest.raises(EventTooLarge):
        list(whole_lines([b"data: " + b"x" * 1000] * 100, max_line_bytes=50_000))


def test_whole_lines_is_linear_on_many_small_reads_of_one_line():
    pieces = [b"x" * 1400] * 2000 + [b"\n"]
    blocks = list(whole_lines(pieces))
    assert blocks == [b"x" * 1400 * 2000 + b"\n"]
