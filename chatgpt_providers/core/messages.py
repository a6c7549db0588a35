"""Chat messages: validation into a :class:`ParsedMessages`, and gpt4free's ``format_prompt``."""

from __future__ import annotations

from typing import Iterable, List, Mapping, Sequence, Tuple, Union

from .record import Record

__all__ = ["Message", "Messages", "ParsedMessages", "parse_messages", "format_prompt"]

Message = Mapping[str, str]
#: What every ``stream``/``complete`` call accepts: a bare string or OpenAI-style messages.
Messages = Union[str, Sequence[Message]]

ROLES = ("system", "user", "assistant")


class ParsedMessages(Record):
    """A validated conversation, split the way both plugins want it.

    ``system`` joins every system message (``""`` if none), ``history`` holds the earlier
    user/assistant turns as ``(role, content)`` pairs, ``prompt`` is the final user turn.

    >>> ParsedMessages("", (("user", "Hi"),), "Again").prompt
    'Again'
    """

    __slots__ = ("system", "history", "prompt")
    system: str
    history: Tuple[Tuple[str, str], ...]
    prompt: str

    @property
    def prompt_with_system(self) -> str:
        """The final user turn with the system message folded in front of it.

        Neither plugin takes a system message from a client (the site's bot settings hold
        the instructions), so it travels in front of the new message instead.

        >>> parse_messages([{"role": "system", "content": "Be brief."},
        ...                 {"role": "user", "content": "Hi"}]).prompt_with_system
        'Be brief.\\n\\nHi'
        """
        if not self.system:
            return self.prompt
        return f"{self.system}\n\n{self.prompt}"

    @property
    def folded(self) -> str:
        """The final user turn with the system message and the earlier turns written in front
        of it, for a site that keeps the history itself and takes no history from a client.

        >>> print(parse_messages([{"role": "system", "content": "Be brief."},
        ...                       {"role": "user", "content": "Hi"},
        ...                       {"role": "assistant", "content": "Hello!"},
        ...                       {"role": "user", "content": "Again?"}]).folded)
        Be brief.
        <BLANKLINE>
        User: Hi
        Assistant: Hello!
        <BLANKLINE>
        User: Again?
        """
        if not self.history:
            return self.prompt_with_system
        transcript = "\n".join(f"{role.capitalize()}: {content}" for role, content in self.history)
        return "\n\n".join(part for part in (self.system, transcript, f"User: {self.prompt}") if part)


def parse_messages(messages: Messages) -> ParsedMessages:
    """Validate ``messages`` and split them into a :class:`ParsedMessages`.

    ``messages`` is a string (one user turn) or a list of ``{"role", "content"}`` mappings
    ending with a user turn. Anything else raises :class:`ValueError` naming the bad item,
    so nothing is sent to a site.

    >>> parse_messages("Hi")
    ParsedMessages(system='', history=(), prompt='Hi')
    >>> parse_messages([{"role": "user", "content": "Hi"},
    ...                 {"role": "assistant", "content": "Hello!"},
    ...                 {"role": "user", "content": "How are you?"}]).history
    (('user', 'Hi'), ('assistant', 'Hello!'))
    >>> parse_messages([{"role": "bot", "content": "Hi"}])
    Traceback (most recent call last):
    ...
    ValueError: messages[0] has role 'bot'; use 'system', 'user' or 'assistant'
    """
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    elif isinstance(messages, (bytes, bytearray)) or not isinstance(messages, Sequence):
        raise ValueError(
            f"messages must be a str or a list of {{'role': ..., 'content': ...}} dicts, "
            f"not {type(messages).__name__}"
        )
    if not messages:
        raise ValueError("messages is empty; pass at least one user message, e.g. 'Hi'")

    system: List[str] = []
    turns: List[Tuple[str, str]] = []
    role = ""
    for index, item in enumerate(messages):
        role, content = _check_item(index, item)
        if role == "system":
            if content.strip():
                system.append(content)
        else:
            turns.append((role, content))

    last_index = len(messages) - 1
    if not turns or role != "user":  # role: the last message's
        raise ValueError(
            f"messages[{last_index}] has role {role!r}; "
            "the last message must be the user's turn that the bot should answer"
        )
    prompt = turns[-1][1]
    if not prompt.strip():
        raise ValueError(
            f"messages[{last_index}] has empty content; the sites reject an empty message"
        )
    return ParsedMessages("\n\n".join(system), tuple(turns[:-1]), prompt)


def _check_item(index: int, item: object) -> Tuple[str, str]:
    if not isinstance(item, Mapping):
        raise ValueError(
            f"messages[{index}] is a {type(item).__name__}; "
            "each message must be a dict like {'role': 'user', 'content': 'Hi'}"
        )
    role = item.get("role")
    if role not in ROLES:
        raise ValueError(f"messages[{index}] has role {role!r}; use 'system', 'user' or 'assistant'")
    content = item.get("content")
    if not isinstance(content, str):
        raise ValueError(
            f"messages[{index}] has content of type {type(content).__name__}; "
            "content must be a str"
        )
    return role, content


def format_prompt(messages: Messages) -> str:
    """Flatten messages into one prompt, as gpt4free's providers did.

    A single message is sent as its bare content; longer conversations become
    ``"Role: content"`` lines followed by a final ``"Assistant:"``.

    >>> format_prompt("Hi")
    'Hi'
    >>> format_prompt([{"role": "user", "content": "Hi"}])
    'Hi'
    >>> print(format_prompt([{"role": "system", "content": "Be brief."},
    ...                      {"role": "user", "content": "Hi"}]))
    System: Be brief.
    User: Hi
    Assistant:
    """
    items: Iterable[Message]
    if isinstance(messages, str):
        return messages
    items = list(messages)
    for index, item in enumerate(items):
        _check_item(index, item)
    if len(items) == 1:
        return items[0]["content"]
    lines = "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in items)
    return f"{lines}\nAssistant:"
