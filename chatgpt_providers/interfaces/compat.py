"""gpt4free compatibility: ``ChatCompletion.create`` and providers named by string.

gpt4free code passes sampling settings (``temperature=``, ``max_tokens=``, ...) and
gpt4free-only switches (``web_search=``, ``api_key=``, ...) all the time: they are accepted
and ignored (see :data:`~chatgpt_providers.core.options.IGNORED_OPTIONS`), because the site's
bot settings decide them. A misspelt option is a ``TypeError`` naming the class you used.

Two classes are called ``ChatCompletion``, as in the libraries they stand in for:
``chatgpt_providers.ChatCompletion`` (this module) is gpt4free's entry point
(``g4f.ChatCompletion``), and
:class:`chatgpt_providers.interfaces.openai_style.ChatCompletion` is the result type of
``Client().chat.completions.create()`` (``openai.types.chat.ChatCompletion``), which is not
exported at the top level.
"""

from __future__ import annotations

from typing import Any, Iterator, Literal, Optional, Union, overload

from ..core.messages import Messages, parse_messages
from ..core.options import build_client, split_options
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
    both presets). Classes and names are created with ``options``; sampling and
    gpt4free-only options among them are ignored, an unknown one is a ``TypeError`` naming
    the class.

    >>> resolve_provider("chatgptt").name, resolve_provider("Chatgpt4Online").url
    ('ChatGptt', 'https://chatgpt4online.org')
    >>> resolve_provider(None).name
    'RetryProvider'
    """
    from .failover import RetryProvider

    if isinstance(provider, ChatAPI):
        options = split_options(type(provider), options)
        if options:
            raise TypeError(f"options {sorted(options)} apply when creating a provider; "
                            f"{provider!r} already exists")
        return provider
    if provider is None:
        classes = _classes()
        provider = [classes["chatgpt4online"], classes["chatgptt"]]
    if isinstance(provider, str):
        key = provider.replace("-", "").replace("_", "").lower()
        if key == "retryprovider":
            return resolve_provider(None, **options)
        classes = _classes()
        if key not in classes:
            raise ValueError(f"unknown provider {provider!r}; use one of {', '.join(PROVIDER_NAMES)}")
        provider = classes[key]
    if isinstance(provider, type) and issubclass(provider, ChatProvider):
        return build_client(provider, **options)
    if isinstance(provider, (list, tuple)):
        failover = {name: options.pop(name) for name in ("shuffle", "rng") if name in options}
        made = [build_client(item, **options)
                if isinstance(item, type) and issubclass(item, ChatProvider) else item
                for item in provider]
        return RetryProvider(made, **failover)  # which says so if an item is no provider
    raise ValueError(f"{provider!r} is not a provider: pass an instance, a class, a name "
                     f"({', '.join(PROVIDER_NAMES)}) or a list of them")


class ChatCompletion:
    """gpt4free's entry point, so legacy code only changes its import.

    >>> from chatgpt_providers import ChatCompletion, ChatGptt
    >>> ChatCompletion.create("gpt-4o", [{"role": "user", "content": "Hi"}],
    ...                       provider=ChatGptt, temperature=0.5)    # doctest: +SKIP
    'Hello! How can I help you?'

    It is only called through :meth:`create`; the OpenAI-style result type of the same name
    is :class:`chatgpt_providers.interfaces.openai_style.ChatCompletion`.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> ChatCompletion:  # always raises
        raise TypeError(
            "chatgpt_providers.ChatCompletion is gpt4free's entry point: call "
            "ChatCompletion.create(model, messages, provider=...). The OpenAI-style result "
            "type is chatgpt_providers.interfaces.openai_style.ChatCompletion."
        )

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
        Sampling options (``temperature=``, ``max_tokens=``, ...) and gpt4free-only ones
        (``web_search=``, ``api_key=``, ...) are accepted and ignored: the site's bot
        settings decide them. Bad messages raise ValueError at once.

        >>> ChatCompletion.create("gpt-4o", "Hi", provider="chatgptt", tiemout=5)
        Traceback (most recent call last):
        ...
        TypeError: ChatGptt() got an unexpected option 'tiemout' (did you mean 'timeout'?); ...
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
