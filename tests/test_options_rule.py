"""Issue 19, points 1 and 2: one rule for options wherever a user passes them. Generation
options (sampling settings, gpt4free-only switches) are accepted and ignored at every entry
point; anything else is a TypeError that names the public class or function called and
suggests the closest valid name, never an internal class or method."""

import logging

import pytest

from chatgpt_providers import (
    AIEngine,
    AIPKit,
    AIPower,
    ChatCompletion,
    Chatgpt4Online,
    ChatGptt,
    Client,
    RetryProvider,
    connect,
    detect,
)

GENERATION = {"temperature": 0.3, "max_tokens": 50, "top_p": 0.9, "stop": ["\n"], "seed": 1,
              "web_search": True, "api_key": "sk-unused"}
CLOSED = "http://127.0.0.1:1"  # nothing listens: a call that reached the network would fail


def raised(call):
    with pytest.raises(TypeError) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize("call, called, wrong, meant", [
    (lambda: ChatGptt(timeuot=5), "ChatGptt()", "timeuot", "timeout"),
    (lambda: Chatgpt4Online(retires=1), "Chatgpt4Online()", "retires", "retries"),
    (lambda: AIEngine(CLOSED, retires=1), "AIEngine()", "retires", "retries"),
    (lambda: AIPower(CLOSED, pgae="/chat/"), "AIPower()", "pgae", "page"),
    (lambda: AIPKit(CLOSED, timeuot=1), "AIPKit()", "timeuot", "timeout"),
    (lambda: AIPKit(CLOSED, botid=5), "AIPKit()", "botid", "bot_id"),
    (lambda: connect(CLOSED + "/", timeuot=1), "connect()", "timeuot", "timeout"),
    (lambda: detect(CLOSED + "/", timeuot=1), "detect()", "timeuot", "timeout"),
    (lambda: detect(CLOSED + "/", prefr="AI Engine"), "detect()", "prefr", "prefer"),
    (lambda: RetryProvider([ChatGptt], shufle=True), "RetryProvider()", "shufle", "shuffle"),
    (lambda: ChatCompletion.create("gpt-4o", "Hi", provder=ChatGptt), "ChatCompletion.create()",
     "provder", "provider"),
    (lambda: ChatCompletion.create("gpt-4o", "Hi", provider=ChatGptt, base_ulr=CLOSED),
     "ChatCompletion.create()", "base_ulr", "base_url"),
    (lambda: ChatGptt.create_completion("gpt-4o", "Hi", tiemout=5), "ChatGptt.create_completion()",
     "tiemout", "timeout"),
    (lambda: ChatGptt(base_url=CLOSED).complete("Hi", temprature=0.3), "ChatGptt.complete()",
     "temprature", "temperature"),
    (lambda: ChatGptt(base_url=CLOSED).stream("Hi", chatid="x"), "ChatGptt.stream()", "chatid",
     "chat_id"),
    (lambda: ChatGptt(base_url=CLOSED).reply("Hi", modle="gpt-4o"), "ChatGptt.reply()", "modle",
     "model"),
    (lambda: RetryProvider([ChatGptt(base_url=CLOSED)]).complete("Hi", max_token=5),
     "RetryProvider.complete()", "max_token", "max_tokens"),
    (lambda: Client(provder="chatgptt"), "Client()", "provder", "provider"),
    (lambda: Client(provider="chatgptt", timeuot=5), "Client()", "timeuot", "timeout"),
    (lambda: Client(max_retires=1), "Client()", "max_retires", "max_retries"),
])
def test_a_misspelt_option_names_the_call_and_the_closest_name(call, called, wrong, meant):
    message = raised(call)
    assert message.startswith(f"{called} got an unexpected option {wrong!r} (did you mean {meant!r}?)")
    for internal in ("ChatProvider", "__init__", "ChatAPI", "keyword argument"):
        assert internal not in message


def test_a_misspelt_option_of_a_method_names_the_method_not_the_one_it_calls():
    bot = ChatGptt(base_url=CLOSED)
    assert raised(lambda: bot.complete("Hi", temprature=0.3)).startswith("ChatGptt.complete()")
    assert raised(lambda: bot.display_stream("Hi", temprature=0.3)).startswith(
        "ChatGptt.display_stream()")
    assert raised(lambda: bot.conversation().ask("Hi", temprature=0.3)).startswith(
        "Conversation.ask() got an unexpected option 'temprature' (did you mean 'temperature'?)")


def test_generation_options_are_accepted_and_ignored_at_every_entry_point(site, caplog):
    caplog.set_level(logging.DEBUG, logger="chatgpt_providers")
    bot = ChatGptt(base_url=site.url, **GENERATION)
    assert bot.complete("Hi", **GENERATION) == "Echo: Hi"
    assert "".join(bot.stream("Hi", **GENERATION)) == "Echo: Hi"
    assert bot.reply("Hi", **GENERATION).text == "Echo: Hi"
    assert AIEngine(site.url, **GENERATION).complete("Hi") == "Echo: Hi"
    assert Chatgpt4Online(base_url=site.url, **GENERATION).complete("Hi") == "Echo: Hi"
    failover = RetryProvider([Chatgpt4Online, ChatGptt], base_url=site.url, **GENERATION)
    assert failover.complete("Hi", **GENERATION) == "Echo: Hi"
    assert "".join(failover.stream("Hi", **GENERATION)) == "Echo: Hi"
    assert connect(site.url + "/", **GENERATION).complete("Hi") == "Echo: Hi"
    assert detect(site.url + "/", **GENERATION).plugin == "AI Engine"
    assert "".join(ChatGptt.create_completion("gpt-4o", "Hi", base_url=site.url,
                                              **GENERATION)) == "Echo: Hi"
    assert ChatCompletion.create("gpt-4o", "Hi", provider=ChatGptt, base_url=site.url,
                                 **GENERATION) == "Echo: Hi"
    client = Client(provider="chatgptt", base_url=site.url, **GENERATION)
    done = client.chat.completions.create(model="gpt-4o", messages="Hi", temperature=0.3)
    assert done.choices[0].message.content == "Echo: Hi"
    assert "ignored options" in caplog.text


def test_the_aipkit_client_ignores_them_too(site):
    from chatgpt_providers.testing import LocalSite

    with LocalSite(delay=0.001, plugins=("aipkit",)) as kit_site:
        assert AIPKit(kit_site.url, **GENERATION).complete("Hi", **GENERATION) == "Echo: Hi"


def test_options_on_existing_providers_say_where_they_belong():
    message = raised(lambda: RetryProvider([ChatGptt(base_url=CLOSED)], timeout=3))
    assert message.startswith("RetryProvider() got timeout=") and "already exist" in message
    message = raised(lambda: Client(provider=ChatGptt(base_url=CLOSED), timeout=3))
    assert message.startswith("Client(): timeout= applies") and "already exists" in message


def test_connect_refuses_an_option_of_the_other_plugin_by_name(site):
    message = raised(lambda: connect(site.url + "/", prefer="AI Power", rest_url=site.url))
    assert message.startswith("connect(): rest_url= does not apply to AIPower")

