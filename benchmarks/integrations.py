"""Rows 9: time to first token through the ``llm`` plugin and the LangChain chat model, beside
the SDK's own ``stream()`` in the same run.

Each figure runs from the stand-in's flush of the event that carries the first text (the
stand-in in its own process, as in row 1) to the first token handed out by the interface:
``llm``'s response iterator (what ``llm -m chatgptt "..."`` prints from), LangChain's
``stream()``, and LangChain's ``astream()`` inside an event loop. The baseline is the same
figure for ``bot.stream()``, measured in the same rounds. Called from
:func:`benchmarks.run.main` with its ``row``, ``RemoteSite`` and ``first_text_at``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List

from chatgpt_providers import Chatgpt4Online, ChatGptt

QUESTION = "one two three"
PRESETS = ((Chatgpt4Online, "chatgpt4online"), (ChatGptt, "chatgptt"))


def integration_rows(row: Callable[..., None], remote_site: Any,
                     first_text_at: Callable[[Dict[str, Any], Any], float], *, quick: bool) -> None:
    """The rows (see the module docstring); ``llm`` keeps its files in a temporary folder."""
    try:
        import langchain_core  # noqa: F401
        import llm  # noqa: F401
    except ImportError as exc:
        row("9. first token through llm and LangChain", 0.0, 0.0, "ms", "needs llm and "
            "langchain-core", False, note=f"{exc}; pip install 'chatgpt-providers[llm,langchain]'")
        return
    user_dir = tempfile.mkdtemp(prefix="bench-llm-")
    previous = os.environ.get("LLM_USER_PATH")
    os.environ["LLM_USER_PATH"] = user_dir
    try:
        measure(row, remote_site, first_text_at, runs=1 if quick else 11)
    finally:
        if previous is None:
            os.environ.pop("LLM_USER_PATH", None)
        else:
            os.environ["LLM_USER_PATH"] = previous
        shutil.rmtree(user_dir, ignore_errors=True)


def measure(row: Callable[..., None], remote_site: Any,
            first_text_at: Callable[[Dict[str, Any], Any], float], *, runs: int) -> None:
    loop = asyncio.new_event_loop()
    try:
        with remote_site(delay=0.02) as site:
            for provider, model_id in PRESETS:
                measure_preset(row, site, first_text_at, loop, provider, model_id, runs=runs)
    finally:
        loop.close()


def measure_preset(row: Callable[..., None], site: Any,
                   first_text_at: Callable[[Dict[str, Any], Any], float],
                   loop: asyncio.AbstractEventLoop, provider: Any, model_id: str, *,
                   runs: int) -> None:
    import llm

    from chatgpt_providers.langchain import ChatProviders

    bot = provider(base_url=site.url)
    chat = ChatProviders(client=bot)
    model = llm.get_model(model_id)
    ways: Dict[str, Callable[[], float]] = {
        "the SDK's stream()": lambda: first_token(bot.stream(QUESTION)),
        "llm": lambda: first_token(iter(model.prompt(QUESTION, base_url=site.url))),
        "LangChain stream()": lambda: first_token(chat.stream(QUESTION)),
        "LangChain astream()": lambda: loop.run_until_complete(first_async_token(chat)),
    }
    for first in ways.values():  # warm up: page, nonce, connection
        first()
    delays: Dict[str, List[float]] = {name: [] for name in ways}
    for _ in range(runs):  # interleaved, so every way sees the same machine
        for name, first in ways.items():
            at = first()
            delays[name].append(at - first_text_at(site.chat_records(provider)[-1], provider))
    baseline = statistics.median(delays.pop("the SDK's stream()")) * 1000
    for name, values in delays.items():
        ours = statistics.median(values) * 1000
        row(f"9. first token through {name} vs the SDK's stream(), {provider.__name__}",
            ours, baseline, "ms", "ours <= SDK + 2 ms (median)", ours <= baseline + 2.0)
    bot.close()


def first_token(stream: Iterator[Any]) -> float:
    """``time.perf_counter()`` when the first token came out of a new stream (read to its end)."""
    next(stream)
    at = time.perf_counter()
    for _ in stream:
        pass
    return at


async def first_async_token(chat: Any) -> float:
    stream = chat.astream(QUESTION)
    await stream.__anext__()
    at = time.perf_counter()
    async for _ in stream:
        pass
    return at
