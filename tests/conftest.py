"""Shared fixtures: recorded-style responses (``responses``) and the real stand-in site."""

import io
import json
import os
from typing import Any, Iterable, List

import pytest
import responses as responses_lib
from hypothesis import HealthCheck, settings

from chatgpt_providers.testing import LocalSite

BASE = "https://site.example"

# tests/typecheck/ holds files for mypy (see .ci/run), not tests: its calls would reach real sites.
collect_ignore = ["typecheck"]

# Property tests: no example database, so a failure found in one run is never replayed in a later
# run of the same checkout (a failure prints its example and a @reproduce_failure blob instead);
# no deadline and no "too slow" health check, because timing on a loaded 2-core machine is chance,
# not a property. Under CI the examples are derandomized (the same every run, as hypothesis's own
# CI profile does), so a CI result is reproducible; elsewhere each run draws afresh.
# Set HYPOTHESIS_PROFILE to use another profile.
settings.register_profile("chatgpt_providers", database=None, deadline=None, print_blob=True,
                          derandomize=bool(os.environ.get("CI")),
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "chatgpt_providers"))


class _Pieces(io.RawIOBase):
    """A raw stream that hands out the given byte pieces, one per read."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces: List[bytes] = [p for p in pieces if p]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._pieces:
            return 0
        piece = self._pieces.pop(0)
        if len(piece) > len(buffer):
            piece, rest = piece[: len(buffer)], piece[len(buffer):]
            self._pieces.insert(0, rest)
        buffer[: len(piece)] = piece
        return len(piece)


def split_body(data: bytes, cuts: Iterable[int] = ()) -> io.BufferedReader:
    """A body that arrives in pieces cut at the given byte offsets (one read per piece)."""
    points = [0, *sorted(set(c for c in cuts if 0 < c < len(data))), len(data)]
    return io.BufferedReader(_Pieces(data[a:b] for a, b in zip(points, points[1:])))


def sse(*events: Any, newline: str = "\n") -> bytes:
    """Encode events as ``data:`` lines; dicts as JSON, str as they are."""
    out = []
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        out.append(f"data: {data}{newline}{newline}")
    return "".join(out).encode("utf-8")


def engine_end(reply: str, **extra: Any) -> dict:
    """An AI Engine ``end`` event (its data is a JSON string)."""
    final = {"success": True, "reply": reply, "images": None, "actions": [], "shortcuts": [],
             "blocks": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}
    final.update(extra)
    return {"type": "end", "data": json.dumps(final)}


@pytest.fixture
def rsps():
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def site():
    with LocalSite(delay=0.001) as stand_in:
        yield stand_in
