"""Failover across providers: :class:`RetryProvider`, gpt4free's name for it."""

from __future__ import annotations

import logging
import random
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

from .. import errors
from ..core.messages import Messages, parse_messages
from ..core.options import IGNORED_OPTIONS, constructor_options, take_options
from ..core.provider import ChatAPI, ChatProvider
from ..core.results import Reply

__all__ = ["RetryProvider"]

log = logging.getLogger("chatgpt_providers")


class RetryProvider(ChatAPI):
    """Ask providers in order until one answers; the same calls as a single provider.

    >>> from chatgpt_providers import RetryProvider, Chatgpt4Online, ChatGptt
    >>> bot = RetryProvider([Chatgpt4Online(), ChatGptt])   # instances or classes
    >>> bot.complete("Hi")                                  # doctest: +SKIP
    'Hello! How can I help you today?'

    A provider that fails before yielding any text hands over to the next one (after its
    own retries); once text has been yielded, a failure is raised with ``partial_text``
    and nothing is replayed. When every provider fails, one
    :class:`~chatgpt_providers.AllProvidersFailedError` says why for each. Classes are
    created with ``options`` (``timeout=``, ``proxy=``, ...); ``shuffle=True`` tries them
    in a random order each call.
    """

    supports_stream = True
    supports_message_history = True
    supports_system_message = True

    def __init__(self, providers: Sequence[Union[ChatProvider, type]], *, shuffle: bool = False,
                 rng: Optional[random.Random] = None, **options: Any) -> None:
        if isinstance(providers, (str, bytes)) or not providers:
            raise ValueError("RetryProvider needs a non-empty list of providers, e.g. "
                             "[Chatgpt4Online(), ChatGptt()]")
        classes = [item for item in providers if isinstance(item, type) and issubclass(item, ChatProvider)]
        if options:
            accepted = ["providers", "shuffle", "rng"]
            # options create the providers given as classes (instances already have theirs)
            sources: List[type] = list(classes) or [type(item) for item in providers]
            for cls in sources:
                accepted += [name for name in constructor_options(cls) if name not in accepted]
            options = take_options("RetryProvider()", options, accepted)
            if options and not classes:
                raise TypeError(f"RetryProvider() got {', '.join(name + '=' for name in options)}, "
                                "which creates providers given as classes; these providers already "
                                "exist: give them the options when you create them")
        made: List[ChatProvider] = []
        for item in providers:
            if isinstance(item, type) and issubclass(item, ChatProvider):
                made.append(item(**options))
            elif isinstance(item, ChatProvider):
                made.append(item)
            else:
                raise ValueError(f"{item!r} is not a provider class or instance")
        self.providers = made
        self.shuffle = shuffle
        self._rng = rng or random.Random()
        self.models = sorted({m for p in made for m in p.models})
        self.default_model = made[0].default_model

    @property
    def name(self) -> str:
        return "RetryProvider"

    def __repr__(self) -> str:
        return f"RetryProvider({self.providers!r}, shuffle={self.shuffle})"

    def __enter__(self) -> RetryProvider:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close every provider's session.

        >>> from chatgpt_providers import ChatGptt
        >>> RetryProvider([ChatGptt]).close()
        """
        for provider in self.providers:
            provider.close()

    def stream(self, messages: Messages, *, model: Optional[str] = None,
               reply: Optional[Reply] = None, **options: Any) -> Iterator[str]:
        """Yield the reply of the first provider that answers (``reply``, if given, is
        filled in as with a single provider; its ``provider`` names the one answering from
        the first text on).

        >>> from chatgpt_providers import ChatGptt
        >>> RetryProvider([ChatGptt()]).stream([])
        Traceback (most recent call last):
        ...
        ValueError: messages is empty; pass at least one user message, e.g. 'Hi'
        """
        if options:  # generation options are ignored; a misspelt one is a TypeError
            self._call_options("stream", options)
        parse_messages(messages)

        def ask(provider: ChatProvider) -> Iterator[str]:
            attempt = Reply(caller=reply.caller if reply is not None else None)
            answering = False
            for text in provider.stream(messages, model=model, reply=attempt):
                if not answering and reply is not None:
                    # From its first text on, this provider is the one answering: label the
                    # reply with it now (chunks built while streaming read it).
                    answering = True
                    reply.provider, reply.streamed = attempt.provider, attempt.streamed
                yield text
            if reply is not None:  # only the provider that answered fills it in
                for name in Reply.__slots__:
                    setattr(reply, name, getattr(attempt, name))

        return self._first_answer(ask)

    def create_completion(self, model: str, messages: Messages, stream: bool = True,
                          **options: Any) -> Iterator[str]:
        """gpt4free's call: a generator of text (the whole reply once when ``stream=False``).
        Connection options belong to the providers, so only ``proxy=None`` is accepted here;
        sampling and gpt4free-only options (``temperature=``, ``web_search=``, ...) are
        ignored.

        >>> from chatgpt_providers import ChatGptt
        >>> bot = RetryProvider([ChatGptt])
        >>> "".join(bot.create_completion("gpt-4o", "Hi"))          # doctest: +SKIP
        'Hello!'
        """
        options = take_options("RetryProvider.create_completion()", options,
                               [name for name in options if name not in IGNORED_OPTIONS])
        if options.get("proxy") is not None or set(options) - {"proxy"}:
            raise TypeError("RetryProvider.create_completion takes no connection options; give "
                            "them to the providers (or to RetryProvider([...], proxy=...))")
        if stream:
            return self.stream(messages, model=model)
        parse_messages(messages)

        def whole() -> Iterator[str]:
            yield self.complete(messages, model=model)

        return whole()

    def _order(self) -> List[ChatProvider]:
        order = list(self.providers)
        if self.shuffle:
            self._rng.shuffle(order)
        return order

    def _first_answer(self, ask: Callable[[ChatProvider], Iterator[Any]]) -> Iterator[Any]:
        failures: Dict[str, errors.ProviderError] = {}
        order = self._order()
        for position, provider in enumerate(order, 1):
            yielded = False
            try:
                for item in ask(provider):
                    yielded = True
                    yield item
                return
            except errors.ProviderError as exc:
                if yielded or exc.partial_text:
                    raise
                key = provider.name
                while key in failures:
                    key += "+"
                failures[key] = exc
                after = ("trying the next provider" if position < len(order) else
                         f"that was the last of {len(order)}")
                log.info("RetryProvider: %s failed (%s: %s); %s", provider.name,
                         type(exc).__name__, exc, after)
        raise errors.AllProvidersFailedError(failures)

