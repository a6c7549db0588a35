"""What a call returns besides the text stream: :class:`Reply`, :class:`Answer`, and the
:class:`TextBuffer` a reply's streamed text is kept in. Imported by the shared loop and by
every interface; imports nothing of the package."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

__all__ = ["Answer", "Reply", "TextBuffer"]


class TextBuffer:
    """Text appended piece by piece and kept compact: small pieces are joined in batches,
    so a long reply made of millions of tiny deltas costs its length in memory, not
    millions of string objects.

    >>> buffer = TextBuffer()
    >>> for word in ("Hel", "lo", "!"):
    ...     buffer.append(word)
    >>> buffer.getvalue(), len(buffer), buffer.is_prefix_of("Hello! there")
    ('Hello!', 6, True)
    """

    __slots__ = ("_joined", "_recent")
    #: Pieces joined at a time (benchmark row 5: a reply's memory stays near its length).
    BATCH = 256

    def __init__(self) -> None:
        self._joined: List[str] = []
        self._recent: List[str] = []

    def append(self, text: str) -> None:
        """Add a piece of text (see the class example)."""
        self._recent.append(text)
        if len(self._recent) >= self.BATCH:
            self.compact()

    def compact(self) -> None:
        """Join the recent small pieces into one string (the text does not change).

        >>> buffer = TextBuffer(); buffer.append("a"); buffer.append("b"); buffer.compact()
        >>> buffer.getvalue()
        'ab'
        """
        if self._recent:
            self._joined.append("".join(self._recent))
            self._recent.clear()

    def __len__(self) -> int:
        return sum(map(len, self._joined)) + sum(map(len, self._recent))

    def __bool__(self) -> bool:
        return bool(self._joined) or any(self._recent)

    def pieces(self) -> List[str]:
        """The text so far as the pieces it is kept in (joined, they are :meth:`getvalue`).

        >>> buffer = TextBuffer(); buffer.append("a"); buffer.append("b"); buffer.pieces()
        ['a', 'b']
        """
        return self._joined + self._recent

    def getvalue(self) -> str:
        """All the text so far (see the class example)."""
        if not self._joined:
            return "".join(self._recent)
        return "".join(self._joined + self._recent)

    def is_prefix_of(self, text: str) -> bool:
        """Whether ``text`` starts with all the text so far (without copying either); see
        the class example."""
        offset = 0
        for piece in self._joined + self._recent:
            if not text.startswith(piece, offset):
                return False
            offset += len(piece)
        return True


class Reply:
    """What one call learned besides the text: filled in while the reply streams.

    ``text`` is the reply to use, and ``str(reply)`` (so ``print(reply)``) is that text.
    It is ``final_text``, the site's authoritative reply, when the site sent one at the end
    (AI Engine's ``end`` event), else all the text streamed. The two differ only when the
    site's final reply differs from its stream (a plugin may clean up or replace words); a
    site that sends no final reply (AI Power) leaves ``final_text`` None. ``streamed`` holds
    the text yielded so far, ``usage`` the token figures when the site reported them,
    ``chat_id`` the conversation id the site uses, ``provider`` the one that answered.

    >>> reply = Reply(chat_id="c1")
    >>> reply.streamed.append("Hi!")
    >>> print(reply)
    Hi!
    >>> reply
    Reply(text='Hi!', final_text=None, usage=None, chat_id='c1')
    """

    __slots__ = ("final_text", "usage", "chat_id", "caller", "streamed", "provider", "citations",
                 "warnings")

    def __init__(self, final_text: Optional[str] = None, usage: Optional[Dict[str, Any]] = None,
                 chat_id: Optional[str] = None, caller: Optional[str] = None) -> None:
        self.final_text = final_text
        self.usage = usage
        self.chat_id = chat_id
        #: Whose conversations this call may continue on a site that keeps them (AI Power
        #: 2.3+): calls of different callers never share one. None: the client's own caller.
        self.caller = caller
        self.streamed = TextBuffer()
        #: The name of the provider that answered.
        self.provider: Optional[str] = None
        #: Sources the site cited for the answer (AI Power 2.3+ ``citations``), or None.
        self.citations: Optional[List[Any]] = None
        #: Non-fatal warnings the site sent with the answer (e.g. "incomplete answer").
        self.warnings: List[str] = []

    def __repr__(self) -> str:
        return (f"Reply(text={self.text!r}, final_text={self.final_text!r}, usage={self.usage!r}, "
                f"chat_id={self.chat_id!r})")

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        """The authoritative reply if the site sent one, else all the text streamed."""
        if self.final_text is not None:
            return self.final_text
        return self.streamed.getvalue()


class Answer(str):
    """A reply: a plain ``str`` everywhere, rendered as Markdown in Jupyter.

    >>> answer = Answer("**Hi**")
    >>> answer == "**Hi**", isinstance(answer, str), answer._repr_markdown_()
    (True, True, '**Hi**')
    """

    __slots__ = ()

    def _repr_markdown_(self) -> str:
        return str(self)
