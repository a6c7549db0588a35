"""gpt4free compatibility: ``ChatCompletion.create`` and providers named by string."""

from __future__ import annotations

from typing import Any, Iterator, Literal, Optional, Union, overload

from ..core.messages import Messages, parse_messages
from ..core.provider import ChatAPI, ChatProvider

__all__ = ["ChatCompletion", "resolve_provider", "PROVIDER_NAMES"]

#: Names accepted wherever a provider can be given as a string (any case, - or _ ignored).
PROVIDER_NAMES = ("Chatgpt4Online", "ChatGptt", "AIEngine", "AIPower", "RetryProvider")


def _classes():
    from ..protocols.ai_engine import AIEngine, Chatgpt4Online
    from ..protocols.ai_power import AIPower, ChatGptt

    return {"chatgpt4online": Chatgpt4Online, "chatgptt": ChatGptt, "aiengine": AIEngine,
            "aipower": AIPower}


def resolve_provider(provider: Any = None, **options: Any) -> ChatAPI:
    """A ready provider from an instance, a class, a name, or None (failover across
    both presets). Classes and names are created with ``options``.

    >>> resolve_provider("chatgptt").name, resolve_provider("Chatgpt4Online").url
    ('ChatGptt', 'https://chatgpt4online.org')
    >>> resolve_provider(None).name
    'RetryProvider'
    """
    from .failover import RetryProvider

    if isinstance(provider, ChatAPI):
        if options:
            raise TypeError(f"options {sorted(options)} apply when creating a provider; "
                            f"{provider!r} already exists")
        return provider
    if provider is None:
        classes = _classes()
        return RetryProvider([classes["chatgpt4online"], classes["chatgptt"]], **options)
    if isinstance(provider, str):
        key = provider.replace("-", "").replace("_", "").lower()
        if key == "retryprovider":
            return resolve_provider(None, **options)
        classes = _classes()
        if key not in classes:
            raise ValueError(f"unknown provider {provider!r}; use one of {', '.join(PROVIDER_NAMES)}")
        provider = classes[key]
    if isinstance(provider, type) and issubclass(provider, ChatProvider):
        return provider(**options)
    if isinstance(provider, (list, tuple)):
        return RetryProvider(list(provider), **options)
    raise ValueError(f"{provider!r} is not a provider: pass an instance, a class, a name "
                     f"({', '.join(PROVIDER_NAMES)}) or a list of them")


class ChatCompletion:
    """gpt4free's entry point, so legacy code only changes its import.

    >>> from chatgpt_providers import ChatCompletion, ChatGptt
    >>> ChatCompletion.create("gpt-4o", [{"role": "user", "content": "Hi"}],
    ...                       provider=ChatGptt)                     # doctest: +SKIP
    'Hello! How can I help you?'
    """

    @overload
    @staticmethod
    def create(model: str, messages: Messages, provider: Any = None, stream: Literal[False] = False,
               proxy: Optional[str] = None, **options: Any) -> str: ...

    @overload
    @staticmethod
    def create(model: str, messages: Messages, provider: Any = None, *, stream: Literal[True],
               proxy: Optional[str] = None, **options: Any) -> Iterator[str]: ...

    @overload
    @staticmethod
    def create(model: str, messages: Messages, provider: Any, stream: Literal[True],
               proxy: Optional[str] = None, **options: Any) -> Iterator[str]: ...

    @overload
    @staticmethod
    def create(model: str, messages: Messages, provider: Any = None, stream: bool = False,
               proxy: Optional[str] = None, **options: Any) -> Union[str, Iterator[str]]: ...

    @staticmethod
    def create(model: str, messages: Messages, provider: Any = None, stream: bool = False,
               proxy: Optional[str] = None, **options: Any) -> Union[str, Iterator[str]]:
        """The whole reply as a str, or a generator of text when ``stream=True``.

        ``provider`` is a provider class, instance, name or list (None: failover across
        both presets); ``options`` are the provider's (``base_url=``, ``timeout=``, ...).
        Bad messages raise ValueError at once.
        """
        parse_messages(messages)
        if proxy is not None:
            options["proxy"] = proxy
        if isinstance(provider, type) and issubclass(provider, ChatProvider):
            chunks = provider.create_completion(model, messages, stream=stream, **options)
            return chunks if stream else "".join(chunks)
        client = resolve_provider(provider, **options)
        if stream:
            return client.stream(messages, model=model)
        return str(client.complete(messages, model=model))
