"""Every public call as README.md shows it, for ``mypy --strict`` (run by .ci/run).

Not a test module and never run (the calls would go to real sites): pytest ignores this folder
(see tests/conftest.py) and importing it only defines functions. ``assert_type`` makes mypy
check that each result has the type a user expects, not ``Any``: a name that lost its type
(a lazily loaded one, a record field declared only in ``__slots__``, an un-overloaded Union)
fails the check.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Union

from typing_extensions import assert_type

import chatgpt_providers
from chatgpt_providers import (
    AIEngine,
    AIPKit,
    AIPower,
    AllProvidersFailedError,
    Answer,
    ChatCompletion,
    Chatgpt4Online,
    ChatGptt,
    ChatProvider,
    Client,
    Conversation,
    ProviderError,
    RateLimitError,
    Reply,
    RetryPolicy,
    RetryProvider,
    connect,
    detect,
    format_prompt,
)
from chatgpt_providers.core.provider import ChatSession
from chatgpt_providers.interfaces.detection import Detection
from chatgpt_providers.interfaces.health import Health, check
from chatgpt_providers.interfaces.openai_style import ChatCompletion as OpenAIChatCompletion
from chatgpt_providers.interfaces.openai_style import ChatCompletionChunk, CompletionUsage, Stream
from chatgpt_providers.testing import LocalSite


def use_it() -> None:
    bot = Chatgpt4Online()
    for text in bot.stream("Hi"):
        assert_type(text, str)
        print(text, end="", flush=True)
    print()

    answer = ChatGptt().complete([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is WordPress?"},
    ])
    assert_type(answer, Answer)
    print(answer)


def any_site() -> None:
    engine = AIEngine("https://any-wordpress-site.example", bot_id="default")
    power = AIPower("https://site.example", page="/chat/")
    local = ChatGptt(base_url="http://127.0.0.1:8080")
    kit = AIPKit("https://site.example", page="/chat/", bot_id=5)
    assert_type(engine.page_url, str)
    assert_type(power.page_url, str)
    assert_type(kit.bot_id, Optional[str])
    assert_type(local.base_url, str)
    reply = kit.reply("Hi")
    assert_type(reply.citations, Optional[List[Any]])
    assert_type(reply.warnings, List[str])


def options() -> None:
    bot = ChatGptt(
        base_url="https://site.example", proxy="http://127.0.0.1:3128", timeout=(10, 60),
        headers={"User-Agent": "me"}, verify=True, retries=2, max_retry_wait=20,
        total_timeout=30.0, max_event_bytes=4 * 1024 * 1024, max_reply_chars=16 * 1024 * 1024,
        max_body_bytes=8 * 1024 * 1024,
    )
    bot = ChatGptt(proxies={"https": "http://127.0.0.1:3128"}, timeout=30,
                   retry_policy=RetryPolicy(retries=0))
    reply = bot.reply("Hi", model="gpt-4o")
    assert_type(reply, Reply)
    assert_type(reply.text, str)
    print(reply.usage, reply.chat_id)


def failover() -> None:
    bot = RetryProvider([Chatgpt4Online(), ChatGptt])
    print(bot.complete("Hi"))
    assert_type(bot.complete("Hi"), Answer)


def conversations() -> None:
    chat = ChatGptt().conversation(system="Be brief.")
    # The core names what conversation() returns structurally (it imports no interface);
    # the object is a Conversation, which has that shape.
    assert_type(chat, ChatSession)
    session: ChatSession = Conversation(ChatGptt(), system="Be brief.")
    print(session.messages)
    print(chat.ask("Hi"))
    for text in chat.stream("And what did I just say?"):
        print(text, end="")
    print()
    print(len(chat.messages))
    assert_type(chat.messages, List[Dict[str, str]])
    chat.reset()
    assert_type(chat.display_stream("Hi"), Answer)


def notebooks() -> None:
    answer = ChatGptt().display_stream("Tell me a joke")
    assert_type(answer, Answer)


def batches() -> None:
    results = ChatGptt().batch(["What is WordPress?", "What is a nonce?"], workers=4, progress=True)
    for result in results:
        print(result if not isinstance(result, Exception) else f"failed: {result}")


def detection() -> None:
    bot = connect(ChatGptt.url)
    print(type(bot).__name__, bot.complete("Hi"))
    assert_type(bot, ChatProvider)
    found = detect(ChatGptt.url)
    assert_type(found, Detection)
    assert_type(found.plugin, Optional[str])
    print(found.plugin)
    power = connect("https://site.example/chat/", prefer="AI Power")
    assert_type(power, ChatProvider)


def health() -> None:
    bot = Chatgpt4Online()
    result = check(bot)
    assert_type(result, Health)
    assert_type(result.diagnosis, str)
    assert_type(check(bot).diagnosis, str)
    assert_type(result.ok, bool)
    assert_type(result.first_text_ms, Optional[float])


def openai_shape() -> None:
    client = Client(provider=Chatgpt4Online())
    result = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    assert_type(result, OpenAIChatCompletion)
    print(result.choices[0].message.content, result.choices[0].finish_reason, result.usage)
    assert_type(result.usage, Optional[CompletionUsage])
    for chunk in client.chat.completions.create(model="gpt-4o", messages="Hi", stream=True):
        assert_type(chunk, ChatCompletionChunk)
        print(chunk.choices[0].delta.content, end="")
    print()
    stream = True
    either = client.chat.completions.create(model="gpt-4o", messages="Hi", stream=stream)
    assert_type(either, Union[OpenAIChatCompletion, Stream[ChatCompletionChunk]])
    assert_type(result.model_dump(), Dict[str, Any])
    with Client(provider="chatgptt") as closing:
        assert_type(closing, Client)


def gpt4free_style() -> None:
    messages = [{"role": "user", "content": "Hi"}]
    for text in ChatGptt.create_completion("gpt-4o", messages, stream=True, proxy=None):
        print(text, end="")
    print()
    whole = chatgpt_providers.ChatCompletion.create("gpt-4o", messages, provider=chatgpt_providers.ChatGptt)
    assert_type(whole, str)
    streamed = ChatCompletion.create("gpt-4o", messages, provider=ChatGptt, stream=True)
    assert_type(streamed, Iterator[str])
    assert_type(format_prompt(messages), str)


def errors_() -> None:
    try:
        answer = Chatgpt4Online().complete("Hi")
        print(answer)
    except RateLimitError as exc:
        assert_type(exc.retry_after, Optional[float])
        print("wait", exc.retry_after, "seconds")
    except AllProvidersFailedError as exc:
        assert_type(exc.errors, Dict[str, ProviderError])
    except ProviderError as exc:
        assert_type(exc.partial_text, str)
        assert_type(exc.status_code, Optional[int])
        print(type(exc).__name__, exc, "| received so far:", repr(exc.partial_text))


def stand_in() -> None:
    with LocalSite(delay=0.001, framing="close") as site:
        bot = Chatgpt4Online(base_url=site.url)
        print(bot.complete("Hi"))
        site.inject("rate_limit", retry_after=3)
        print([r.route for r in site.requests])
        assert_type(site.url, str)
