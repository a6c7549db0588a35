import pytest

from chatgpt_providers import format_prompt
from chatgpt_providers.core.messages import parse_messages


def test_string_is_one_user_turn():
    conv = parse_messages("Hi")
    assert (conv.system, conv.history, conv.prompt) == ("", (), "Hi")


def test_history_system_and_prompt_are_split():
    conv = parse_messages([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "How are you?"},
    ])
    assert conv.system == "Be brief.\n\nAnswer in French."
    assert conv.history == (("user", "Hi"), ("assistant", "Hello!"))
    assert conv.prompt == "How are you?"
    assert conv.prompt_with_system == "Be brief.\n\nAnswer in French.\n\nHow are you?"


@pytest.mark.parametrize("messages, words", [
    ([], "empty"),
    (None, "NoneType"),
    (b"Hi", "bytes"),
    ({"role": "user", "content": "Hi"}, "dict"),
    (["Hi"], "messages[0] is a str"),
    ([{"role": "bot", "content": "Hi"}], "messages[0] has role 'bot'"),
    ([{"content": "Hi"}], "messages[0] has role None"),
    ([{"role": "user", "content": 42}], "messages[0] has content of type int"),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
     "messages[1] has role 'assistant'"),
    ([{"role": "system", "content": "Be brief."}], "messages[0] has role 'system'"),
    ([{"role": "user", "content": "   "}], "messages[0] has empty content"),
    ("", "messages[0] has empty content"),
])
def test_bad_messages_name_the_bad_item(messages, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_messages(messages)


def test_format_prompt_matches_the_seeds():
    assert format_prompt("Hi") == "Hi"
    assert format_prompt([{"role": "user", "content": "Hi"}]) == "Hi"
    assert format_prompt([
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U"},
        {"role": "assistant", "content": "A"},
        {"role": "user", "content": "V"},
    ]) == "System: S\nUser: U\nAssistant: A\nUser: V\nAssistant:"


def test_format_prompt_rejects_bad_items():
    with pytest.raises(ValueError, match=r"messages\[1\]"):
        format_prompt([{"role": "user", "content": "Hi"}, "oops"])
