"""The LangChain chat model, driven through LangChain's own calls against the stand-in; the
stand-in's request log shows what went to the site."""

import asyncio
import json
import subprocess
import sys
import threading

import pytest

pytest.importorskip("langchain_core", reason="the LangChain tests need langchain-core "
                                             "(pip install -e '.[test]')")

from langchain_core.callbacks import BaseCallbackHandler  # noqa: E402
from langchain_core.messages import (  # noqa: E402
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from chatgpt_providers import AIEngine, ChatGptt, RateLimitError, StreamInterruptedError  # noqa: E402
from chatgpt_providers.langchain import ChatProviders  # noqa: E402
from chatgpt_providers.testing import LocalSite  # noqa: E402

CHAT_ROUTES = ("submit", "ajax")


def chat_requests(site):
    return [r for r in site.requests if r.route in CHAT_ROUTES]


def history_sent(request):
    """The earlier turns a chat request carried, in the plugin's own field."""
    if request.route == "submit":
        return [m["content"] for m in request.json["messages"]]
    return [item["text"] for item in json.loads(request.form["wpaicg_chat_history"])]


class Tokens(BaseCallbackHandler):
    def __init__(self):
        self.tokens = []

    def on_llm_new_token(self, token, **kwargs):
        self.tokens.append(token)


CONVERSATION = [SystemMessage("Be brief."), HumanMessage("Hi"), AIMessage("Echo: Hi"),
                HumanMessage("Again")]


@pytest.mark.parametrize("provider, history", [
    ("chatgptt", ["Human: Hi", "AI: Echo: Hi"]),
    ("chatgpt4online", ["Hi", "Echo: Hi"]),
])
def test_invoke_sends_the_history_natively_in_one_request(site, provider, history):
    chat = ChatProviders(provider=provider, base_url=site.url)
    answer = chat.invoke(CONVERSATION)
    assert isinstance(answer, AIMessage)
    assert answer.content == "Echo: Be brief.\n\nAgain (history: 2 turns, last: Echo: Hi)"
    assert answer.response_metadata["provider"] == ("ChatGptt" if provider == "chatgptt"
                                                    else "Chatgpt4Online")
    [request] = chat_requests(site)
    assert history_sent(request) == history


def test_a_conversation_through_invoke_keeps_the_sites_conversation_id(site):
    chat = ChatProviders(provider="chatgpt4online", base_url=site.url)
    messages = [HumanMessage("Hi")]
    for text in ("Again", "Third"):
        messages += [chat.invoke(messages), HumanMessage(text)]
    chat.invoke(messages)
    requests = chat_requests(site)
    assert len(requests) == 3  # one per turn
    assert len({r.json["chatId"] for r in requests}) == 1
    assert history_sent(requests[-1]) == ["Hi", "Echo: Hi", "Again",
                                          "Echo: Again (history: 2 turns, last: Echo: Hi)"]


def test_usage_and_a_client_you_made(site):
    chat = ChatProviders(client=AIEngine(site.url))
    answer = chat.invoke("Hi")
    assert answer.response_metadata["provider"] == "AIEngine"
    assert answer.usage_metadata["input_tokens"] >= 1
    assert answer.usage_metadata["total_tokens"] == (answer.usage_metadata["input_tokens"]
                                                     + answer.usage_metadata["output_tokens"])


def test_stream_yields_deltas_as_they_arrive():
    with LocalSite(delay=0) as site:
        site.inject("stall", seconds=60)  # half the words, then nothing until the site stops
        chat = ChatProviders(provider="chatgptt", base_url=site.url)
        stream = chat.stream("one two three four five six")
        first = next(stream)
        assert isinstance(first, AIMessageChunk) and first.content == "Echo: "
        assert next(stream).content == "one "
        assert chat_requests(site)[-1].finished_at == 0.0  # the site is still answering
        stream.close()


def test_stream_callbacks_and_metadata(site):
    chat = ChatProviders(provider="chatgptt", base_url=site.url)
    handler = Tokens()
    chunks = list(chat.stream(CONVERSATION, config={"callbacks": [handler]}))
    texts = [chunk.content for chunk in chunks if chunk.content]
    assert texts == ["Echo: ", "Be ", "brief.\n\n", "Again ", "(history: ", "2 ", "turns, ",
                     "last: ", "Echo: ", "Hi)"]
    assert [token for token in handler.tokens if token] == texts  # once each
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole += chunk
    assert whole.response_metadata["provider"] == "ChatGptt"
    assert len(chat_requests(site)) == 1


def test_invoke_tells_the_callbacks_every_token(site):
    handler = Tokens()
    answer = ChatProviders(provider="chatgptt", base_url=site.url).invoke(
        "one two", config={"callbacks": [handler]})
    assert "".join(handler.tokens) == answer.content == "Echo: one two"
    assert len(handler.tokens) == 3


def test_stop_sequences_end_the_reply_and_the_request(site):
    chat = ChatProviders(provider="chatgptt", base_url=site.url)
    answer = chat.invoke("alpha beta gamma delta", stop=["gam", "xyz"])
    assert answer.content == "Echo: alpha beta "
    assert answer.response_metadata["stop_sequence"] == "gam"
    assert "".join(c.content for c in chat.stream("alpha beta gamma", stop=["a b"])) == "Echo: alph"
    default = ChatProviders(provider="chatgptt", base_url=site.url, stop=["beta"])
    assert default.invoke("alpha beta").content == "Echo: alpha "
    assert len(chat_requests(site)) == 3


def test_batch_answers_in_order_with_threads():
    with LocalSite(delay=0) as site:
        chat = ChatProviders(provider="chatgptt", base_url=site.url)
        assert [a.content for a in chat.batch(["a", "b", "c"])] == ["Echo: a", "Echo: b", "Echo: c"]
        assert len(chat_requests(site)) == 3
        # Both prompts are at the site at once: each stalls until the site stops.
        site.clear_log()
        site.inject("stall", count=2, seconds=60)
        results = []
        worker = threading.Thread(target=lambda: results.extend(
            chat.batch(["one two three", "four five six"], config={"max_concurrency": 2},
                       return_exceptions=True)))
        worker.start()
        try:
            wait_for(lambda: len(chat_requests(site)) == 2)
            assert all(r.finished_at == 0.0 for r in chat_requests(site))
        finally:
            site.stop()
            worker.join(60)
        assert [type(r) for r in results] == [StreamInterruptedError, StreamInterruptedError]
        assert results[0].partial_text.startswith("Echo: one ")


def wait_for(condition, timeout=60.0):
    done = threading.Event()
    while not condition():
        if done.wait(0.01) or timeout <= 0:
            raise AssertionError("the condition never held")
        timeout -= 0.01


def test_batch_keeps_or_raises_failures(site):
    chat = ChatProviders(provider="chatgptt", base_url=site.url, workers=1)
    site.inject("rate_limit", retry_after=0)
    results = ChatProviders(client=ChatGptt(site.url, retries=0)).batch(
        ["a", "b"], config={"max_concurrency": 1}, return_exceptions=True)
    assert isinstance(results[0], RateLimitError) and results[1].content == "Echo: b"
    with pytest.raises(ValueError, match="messages is empty"):
        chat.batch(["a", []])


def test_astream_and_ainvoke_inside_asyncio_run_leave_the_loop_free():
    with LocalSite(delay=0) as site:
        chat = ChatProviders(provider="chatgpt4online", base_url=site.url)

        async def main():
            answer = await chat.ainvoke(CONVERSATION)
            assert answer.content == "Echo: Be brief.\n\nAgain (history: 2 turns, last: Echo: Hi)"
            texts = [chunk.content async for chunk in chat.astream("one two")]
            assert "".join(texts) == "Echo: one two"
            assert [a.content for a in await chat.abatch(["x", "y"])] == ["Echo: x", "Echo: y"]
            # The site sends "Echo: " and stalls; while the next piece is awaited, the loop runs on.
            site.inject("stall", seconds=60)
            stream = chat.astream("x")
            assert (await stream.__anext__()).content == "Echo: "
            pending = asyncio.ensure_future(stream.__anext__())
            for _ in range(50):
                await asyncio.sleep(0)
            assert not pending.done()  # the loop ran 50 times while the stream waited
            site.stop()  # the stall ends: the stream breaks off, its text kept
            with pytest.raises(StreamInterruptedError) as caught:
                await pending
            assert caught.value.partial_text == "Echo: "
            await stream.aclose()

        asyncio.run(main())
        assert len(chat_requests(site)) == 5


def test_errors_are_raised_unchanged(site):
    site.inject("banned_word")
    chat = ChatProviders(provider="chatgptt", base_url=site.url)
    with pytest.raises(Exception) as caught:
        chat.invoke("Hi")
    assert type(caught.value).__name__ == "RejectedError"
    assert caught.value.provider == "ChatGptt"


def test_tools_and_structured_output_are_refused():
    chat = ChatProviders(provider="chatgptt")
    with pytest.raises(NotImplementedError, match="no tool calling"):
        chat.bind_tools([{"name": "search"}])
    with pytest.raises(NotImplementedError, match="no structured output"):
        chat.with_structured_output({"title": "x", "type": "object"})
    with pytest.raises(ValueError, match="ToolMessage"):
        chat.invoke([HumanMessage("Hi"), ToolMessage("42", tool_call_id="1")])


def test_bad_construction_says_what_to_pass():
    with pytest.raises(ValueError, match="either client= .* or provider="):
        ChatProviders(client=ChatGptt(), provider="chatgptt")
    with pytest.raises(ValueError, match="unknown provider 'nope'"):
        ChatProviders(provider="nope")
    with pytest.raises(TypeError, match="unexpected call options"):
        ChatProviders(provider="chatgptt").invoke("Hi", tempreature=0)


def test_importing_the_package_loads_neither_llm_nor_langchain():
    code = ("import sys, chatgpt_providers; "
            "print([m for m in ('llm', 'langchain_core', 'pydantic') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
