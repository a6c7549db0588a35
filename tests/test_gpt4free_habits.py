"""Issue 11: gpt4free migrators change the import and keep the call; star imports and
``print(reply)`` behave as people expect."""

import builtins
import logging

import pytest

import chatgpt_providers
from chatgpt_providers import ChatCompletion, Chatgpt4Online, ChatGptt, RetryProvider

MESSAGES = [{"role": "user", "content": "Hi"}]
GPT4FREE_OPTIONS = {"temperature": 0.5, "max_tokens": 200, "top_p": 0.9, "stop": ["\n\n"],
                    "web_search": True, "api_key": "sk-unused", "ignore_working": True}


@pytest.mark.parametrize("provider", [ChatGptt, "chatgpt4online", None, [Chatgpt4Online, ChatGptt]])
def test_chat_completion_create_ignores_sampling_and_gpt4free_options(site, provider, caplog):
    caplog.set_level(logging.DEBUG, logger="chatgpt_providers")
    answer = ChatCompletion.create("gpt-4o", MESSAGES, provider=provider, base_url=site.url,
                                   **GPT4FREE_OPTIONS)
    assert answer == "Echo: Hi"
    chunks = ChatCompletion.create("gpt-4o", MESSAGES, provider=provider, stream=True,
                                   base_url=site.url, temperature=0.5, web_search=False)
    assert "".join(chunks) == "Echo: Hi"
    assert "temperature" in caplog.text and "ignored" in caplog.text  # said, at DEBUG


def test_create_completion_ignores_them_too(site):
    stream = ChatGptt.create_completion("gpt-4o", MESSAGES, stream=True, proxy=None,
                                        base_url=site.url, max_tokens=100, web_search=True,
                                        api_key="sk-unused")
    assert "".join(stream) == "Echo: Hi"
    whole = Chatgpt4Online.create_completion("gpt-4o", MESSAGES, stream=False, base_url=site.url,
                                             temperature=0)
    assert list(whole) == ["Echo: Hi"]
    failover = RetryProvider([Chatgpt4Online, ChatGptt], base_url=site.url)
    assert "".join(failover.create_completion("gpt-4o", MESSAGES, max_tokens=5, web_search=True)) \
        == "Echo: Hi"
    with pytest.raises(TypeError, match="give them to the providers"):
        failover.create_completion("gpt-4o", MESSAGES, timeout=3)


@pytest.mark.parametrize("call, called", [
    (lambda: ChatCompletion.create("gpt-4o", MESSAGES, provider=ChatGptt, tiemout=5),
     "ChatCompletion.create()"),
    (lambda: ChatCompletion.create("gpt-4o", MESSAGES, provider="chatgptt", tiemout=5),
     "ChatCompletion.create()"),
    (lambda: ChatCompletion.create("gpt-4o", MESSAGES, provider=[ChatGptt], tiemout=5),
     "ChatCompletion.create()"),
    (lambda: ChatGptt.create_completion("gpt-4o", MESSAGES, tiemout=5),
     "ChatGptt.create_completion()"),
])
def test_a_misspelt_option_names_the_public_call(call, called):
    with pytest.raises(TypeError) as caught:
        call()
    message = str(caught.value)
    assert message.startswith(f"{called} got an unexpected option 'tiemout'")
    assert "did you mean 'timeout'" in message and "ChatProvider" not in message


def test_the_gpt4free_entry_point_is_not_the_openai_result_type():
    with pytest.raises(TypeError, match="gpt4free's entry point.*interfaces.openai_style.ChatCompletion"):
        ChatCompletion()
    from chatgpt_providers.interfaces.openai_style import ChatCompletion as OpenAIResult

    assert OpenAIResult is not ChatCompletion


def test_star_import_keeps_the_builtin_timeout_error(site):
    namespace = {}
    exec("from chatgpt_providers import *", namespace)
    assert "TimeoutError" not in namespace
    assert namespace["ChatCompletion"] is ChatCompletion and "ChatGptt" in namespace
    exec("try:\n    raise TimeoutError('x')\nexcept TimeoutError as e:\n    caught = e", namespace)
    assert type(namespace["caught"]) is builtins.TimeoutError

    site.inject("stall", seconds=3)
    bot = ChatGptt(base_url=site.url, timeout=0.3)
    with pytest.raises(chatgpt_providers.TimeoutError) as caught:  # still works, as documented
        bot.complete("one two three four")
    assert isinstance(caught.value, builtins.TimeoutError)


def test_print_reply_prints_the_text(site, capsys):
    reply = Chatgpt4Online(base_url=site.url).reply("x")
    print(reply)
    assert capsys.readouterr().out == "Echo: x\n"
    assert str(reply) == reply.text == reply.final_text == "Echo: x"
    reply = ChatGptt(base_url=site.url).reply("y")  # AI Power sends no final text
    assert (str(reply), reply.final_text) == ("Echo: y", None)
