import json

import pytest

from chatgpt_providers.core.sse import EventTooLarge, iter_events

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
    with pytest.raises(EventTooLarge, match="bytes"):
        list(iter_events([b"data: " + b"x" * 1000] * 100, max_event_bytes=50_000))


def test_an_event_that_never_ends_is_capped_by_lines():
    with pytest.raises(EventTooLarge, match="lines"):
        list(iter_events([b"data: x\n"] * 1000, max_event_lines=256))


def test_one_long_line_in_many_small_reads():
    pieces = [b"data: "] + [b"x" * 1400] * 2000 + [b"\n\n"]
    assert list(iter_events(pieces, max_event_bytes=4_000_000)) == ["x" * 1400 * 2000]


@pytest.mark.parametrize("repeat", [6553, 6554])  # events of 65,536 and 65,546 bytes
def test_large_events_decode_like_small_ones(repeat):
    """Events past 64 KiB are decoded from a view of the raw bytes (no copy: peak memory);
    multi-byte characters and invalid bytes come out the same on both sides of that size."""
    data = ("é世🙂".encode() + b"\xff") * repeat
    assert len(b"data: " + data) == 65536 + 10 * (repeat - 6553)
    assert list(iter_events([b"data: " + data + b"\n\n"])) == [data.decode("utf-8", "replace")]


def test_a_terminator_split_across_reads_is_seen():
    assert list(iter_events([b"data: a\r\n\r", b"\ndata: b\n", b"\n"])) == ["a", "b"]


def test_a_field_value_loses_exactly_one_leading_space():
    """The SSE standard removes one space after the colon, on the fast path and the fallback alike
    (sseclient-py before 1.7 stripped every leading space: the reason for its floor)."""
    assert list(iter_events([b"data:  two\n\n"])) == [" two"]
    assert list(iter_events([b"event: message\ndata:  two\ndata:\tx\n\n"])) == [" two\n\tx"]


TRICKY = (b'data: a\r\n\r\ndata: b\r\rdata: c\n\nevent: x\ndata: d\ndata: e\n\n: note\n\ndata:f\n\n'
          b'data: \n\nid: 3\n\n\n\ndata: \xd0\x9f\xd1\x80\r\n\r\nretry: 5\r\ndata: h\r\n\r\n\r\ndata: i')


def test_agrees_with_sseclient_py_on_every_three_piece_split():
    """The fast path and the fallback together parse exactly as sseclient-py does."""
    from sseclient import SSEClient

    want = [event.data for event in SSEClient([TRICKY]).events()]
    assert len(want) == 9
    size = len(TRICKY)
    for i in range(1, size, 3):
        for j in range(i, size, 2):
            assert list(iter_events([TRICKY[:i], TRICKY[i:j], TRICKY[j:]])) == want, (i, j)


from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from chatgpt_providers.core.sse import json_or_none  # noqa: E402

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                           | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=12)


def same_json(a, b) -> bool:
    """Exact equality of decoded JSON values, NaN included.

    ``==`` says ``nan != nan`` (so ``json.loads("NaN")`` differs from itself), ``0.0 == -0.0``
    and ``1 == 1.0 == True``; the canonical ``json.dumps`` forms tell each of those apart and
    are equal exactly when the values are.
    """
    return json.dumps(a) == json.dumps(b)


def test_same_json_is_exact():
    assert same_json(float("nan"), json.loads("NaN"))
    assert same_json([{"a": float("nan")}], json.loads('[{"a": NaN}]'))
    assert not same_json(0.0, -0.0)
    assert not same_json(1, 1.0) and not same_json(1, True) and not same_json(None, "null")
    assert not same_json({"a": 1, "b": 2}, {"b": 2, "a": 1})  # key order is part of the result


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40),
                 st.tuples(st.sampled_from(["", " ", "\n", "\t "]),
                           json_values | st.sampled_from([float("nan"), -0.0, [float("nan")]]),
                           st.sampled_from(["", " ", "\r\n", "x", ",1"]))
                 .map(lambda t: t[0] + json.dumps(t[1]) + t[2])))
@example("NaN")
@example(" [NaN, -Infinity, -0.0] ")
@example('{"a": NaN, "a": -0.0}')
@example("1e400")
@example('"\\ud800"')
def test_json_or_none_accepts_exactly_what_json_loads_accepts(text):
    try:
        want = json.loads(text)
    except (ValueError, RecursionError):
        want = None
    assert same_json(json_or_none(text), want)


def test_property_tests_keep_no_example_database():
    """A failure found once is not replayed by every later run of the checkout (see conftest)."""
    assert settings.default.database is None
    assert settings.default.deadline is None
