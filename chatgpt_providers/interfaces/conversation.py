"""A multi-turn chat that keeps its history: ``bot.conversation()``."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

from ..core.messages import parse_messages
from ..core.options import stream_options, take_options
from ..core.results import Answer, Reply

__all__ = ["Conversation", "conversation"]


class Conversation:
    """A chat with one provider that remembers what was said.

    >>> from chatgpt_providers import ChatGptt
    >>> chat = ChatGptt().conversation(system="Be brief.")
    >>> chat.ask("Hi")                                  # doctest: +SKIP
    'Hello!'
    >>> for text in chat.stream("And then?"):           # doctest: +SKIP
    ...     print(text, end="")
    >>> len(chat.messages)                              # doctest: +SKIP
    5

    Each turn sends the whole history; the site's conversation id (AI Engine's ``chatId``,
    AI Power's client id) stays the same until :meth:`reset`. A turn is added to the
    history only when its reply arrived whole: a failed turn, or a stream you stopped
    early, leaves the history as it was (the error keeps ``partial_text``).

    A conversation kept elsewhere (a log, another process) continues with ``history=``, its
    earlier user/assistant messages, sent with the next turn as any history is:

    >>> from chatgpt_providers.testing import LocalSite
    >>> with LocalSite() as site:
    ...     chat = Conversation(ChatGptt(base_url=site.url), history=[
    ...         {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}])
    ...     chat.ask("Again")
    'Echo: Again (history: 2 turns, last: Hello!)'

    ``last_reply`` is the :class:`~chatgpt_providers.Reply` of the last turn that ended whole.
    """

    def __init__(self, provider: Any, *, system: Optional[str] = None,
                 history: Optional[Sequence[Mapping[str, str]]] = None) -> None:
        if system is not None and not isinstance(system, str):
            raise ValueError(f"system must be a str; got {type(system).__name__}")
        self.provider = provider
        self.system = system
        self._turns: List[Dict[str, str]] = []
        self.chat_id: Optional[str] = None
        self.last_reply: Optional[Reply] = None
        self.reset()
        if history:
            self._turns = _checked_history(history)

    def __repr__(self) -> str:
        return f"Conversation({self.provider!r}, turns={len(self._turns) // 2})"

    @property
    def messages(self) -> List[Dict[str, str]]:
        """The conversation so far as OpenAI-style messages (a copy), system first."""
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + [dict(turn) for turn in self._turns]

    def reset(self) -> None:
        """Forget the history and start a new conversation with the site.

        >>> from chatgpt_providers import ChatGptt
        >>> chat = ChatGptt().conversation(system="Be brief.")
        >>> old = chat.chat_id
        >>> chat.reset()
        >>> chat.messages, chat.chat_id != old
        ([{'role': 'system', 'content': 'Be brief.'}], True)
        """
        self._turns = []
        self.last_reply = None
        new_chat_id = getattr(self.provider, "new_chat_id", None)  # one site: it names conversations
        self.chat_id = new_chat_id() if new_chat_id is not None else None

    def ask(self, text: str, **options: Any) -> Answer:
        """Send ``text`` with the history; return the reply and remember both.

        >>> from chatgpt_providers import ChatGptt
        >>> from chatgpt_providers.testing import LocalSite
        >>> with LocalSite() as site:
        ...     chat = ChatGptt(base_url=site.url).conversation()
        ...     _ = chat.ask("Hi")
        ...     chat.ask("Again")
        'Echo: Again (history: 2 turns, last: Echo: Hi)'
        """
        options = self._options("ask", options)
        for _ in self.stream(text, **options):
            pass
        return Answer(self._turns[-1]["content"])

    def stream(self, text: str, **options: Any) -> Iterator[str]:
        """Send ``text`` with the history and yield the reply as it arrives; the turn is
        remembered once the reply has ended.

        >>> from chatgpt_providers import ChatGptt
        >>> for text in ChatGptt().conversation().stream("Hi"):    # doctest: +SKIP
        ...     print(text, end="")
        """
        options = self._options("stream", options)
        messages = self.messages + [{"role": "user", "content": text}]
        parse_messages(messages)  # bad input fails here, before any traffic
        if self.chat_id is not None:
            options.setdefault("chat_id", self.chat_id)
        reply = Reply()
        return self._run(text, self.provider.stream(messages, reply=reply, **options), reply)

    def display_stream(self, text: str, **options: Any) -> Answer:
        """:meth:`stream` into one live-updating Markdown output in Jupyter (printed as it
        arrives elsewhere).

        >>> from chatgpt_providers import ChatGptt
        >>> ChatGptt().conversation().display_stream("Hi")     # doctest: +SKIP
        """
        from .notebook import display_stream

        options = self._options("display_stream", options)
        return display_stream(self.stream(text, **options))

    def _options(self, call: str, options: Mapping[str, Any]) -> Dict[str, Any]:
        """The options of ``Conversation.<call>()`` for the provider's ``stream``: generation
        options are ignored, anything else is a TypeError naming the call."""
        if not options:
            return {}
        accepted = [name for name in stream_options(type(self.provider)) if name != "reply"]
        return take_options(f"Conversation.{call}()", options, accepted)

    def _run(self, text: str, chunks: Iterator[str], reply: Reply) -> Iterator[str]:
        yield from chunks
        self._turns += [{"role": "user", "content": text},
                        {"role": "assistant", "content": reply.text}]
        self.last_reply = reply
        if reply.chat_id and self.chat_id is not None:
            self.chat_id = reply.chat_id  # the site may name the conversation itself


def conversation(client: Any, system: Optional[str] = None) -> Conversation:
    """A multi-turn chat with ``client`` (any client: a provider, a RetryProvider) that keeps
    its history and the site's conversation ids; ``client.conversation(system=...)``.

    >>> from chatgpt_providers import ChatGptt
    >>> chat = ChatGptt().conversation(system="Be brief.")
    >>> chat.ask("Hi")                          # doctest: +SKIP
    'Hello!'
    >>> chat.ask("What did I just say?")        # doctest: +SKIP
    'You said "Hi".'
    >>> type(chat).__name__, chat.messages
    ('Conversation', [{'role': 'system', 'content': 'Be brief.'}])
    """
    return Conversation(client, system=system)


def _checked_history(history: Sequence[Mapping[str, str]]) -> List[Dict[str, str]]:
    """``history`` as the conversation keeps it: user and assistant turns taking turns,
    starting with the user and ending with the assistant.

    >>> _checked_history([{"role": "user", "content": "Hi"}, {"role": "user", "content": "?"}])
    Traceback (most recent call last):
    ...
    ValueError: history[1] has role 'user'; history alternates user and assistant turns, ...
    """
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
        raise ValueError("history must be a list of {'role': ..., 'content': ...} dicts; "
                         f"got {type(history).__name__}")
    parse_messages([*history, {"role": "user", "content": "next"}])  # each item's shape
    turns = [{"role": item["role"], "content": item["content"]} for item in history]
    for index, turn in enumerate(turns):
        wanted = "user" if index % 2 == 0 else "assistant"
        if turn["role"] != wanted:
            raise ValueError(
                f"history[{index}] has role {turn['role']!r}; history alternates user and "
                "assistant turns, starting with 'user' (pass the system message as system=)")
    if len(turns) % 2:
        raise ValueError("history ends with a user turn that has no answer; pass whole turns "
                         "and send the new message with ask() or stream()")
    return turns
