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

from typing import Any, Dict, Iterable, Iterator, List, Literal, Mapping, Optional, Union, overload

from ..core.messages import Messages, parse_messages
from ..core.options import constructor_options, take_options
from ..core.provider import ChatAPI, ChatProvider
from .failover import RetryProvider
from .registry import PRESETS, PROVIDERS, find, normalized

__all__ = ["ChatCompletion", "resolve_provider", "provider_from", "PROVIDER_NAMES", "FAILOVER"]

#: The name of failover across the presets (the class that does it).
FAILOVER = RetryProvider.__name__
#: Names accepted wherever a provider can be given as a string (any case, - or _ ignored):
#: the registry's clients by class name (their keys, such as ``ai-engine``, work too), and
#: failover across the presets.
PROVIDER_NAMES = tuple(entry.client.__name__ for entry in PROVIDERS) + (FAILOVER,)


def resolve_provider(provider: Any = None, **options: Any) -> ChatAPI:
    """A ready provider from an instance, a class, a name, or None (failover across
    both presets). Classes and names are created with ``options``; generation options
    among them are ignored, an unknown one is a ``TypeError`` naming this function.

    >>> resolve_provider("chatgptt").name, resolve_provider("Chatgpt4Online").url
    ('ChatGptt', 'https://chatgpt4online.org')
    >>> resolve_provider("aipkit", base_url="https://site.example")
    AIPKit('https://site.example')
    >>> resolve_provider(None).name
    'RetryProvider'
    """
    return provider_from(provider, options, "resolve_provider()", ("provider",))


def provider_from(provider: Any, options: Mapping[str, Any], where: str,
                  also: Iterable[str] = ()) -> ChatAPI:
    """:func:`resolve_provider` for a public call ``where`` (e.g. ``"Client()"``) that takes
    the options ``also`` itself: a misspelt option is a ``TypeError`` naming ``where`` and
    suggesting the closest of ``also`` and the providers' options.

    >>> provider_from("chatgptt", {"tiemout": 5}, "Client()", ("provider",))
    Traceback (most recent call last):
    ...
    TypeError: Client() got an unexpected option 'tiemout' (did you mean 'timeout'?); ...
    """
    own = list(also)
    if isinstance(provider, ChatAPI):
        kept = take_options(where, options, own + _options_of([type(provider)]))
        if kept:
            raise TypeError(f"{where}: {_listed(kept)} when creating a provider; "
                            f"{provider!r} already exists: give them to it when you create it")
        return provider
    if provider is None or (isinstance(provider, str) and normalized(provider) == normalized(FAILOVER)):
        provider = [entry.client for entry in PRESETS]
    if isinstance(provider, str):
        entry = find(provider)
        if entry is None:
            raise ValueError(f"unknown provider {provider!r}; use one of {', '.join(PROVIDER_NAMES)}")
        provider = entry.client
    if isinstance(provider, type) and issubclass(provider, ChatProvider):
        return provider(**take_options(where, options, own + _options_of([provider])))
    if isinstance(provider, (list, tuple)):
        made_from = [item for item in provider if isinstance(item, type) and issubclass(item, ChatProvider)]
        kept = take_options(where, options, own + ["shuffle", "rng"] + _options_of(made_from))
        failover = {name: kept.pop(name) for name in ("shuffle", "rng") if name in kept}
        if kept and not made_from:
            raise TypeError(f"{where}: {_listed(kept)} when creating providers; every "
                            "provider given already exists: give them to each when you create it")
        made = [item(**kept) if item in made_from else item for item in provider]
        return RetryProvider(made, **failover)  # which says so if an item is no provider
    raise ValueError(f"{provider!r} is not a provider: pass an instance, a class, a name "
                     f"({', '.join(PROVIDER_NAMES)}) or a list of them")


def _listed(options: Mapping[str, Any]) -> str:
    """``"timeout= applies"`` / ``"timeout=, proxy= apply"``."""
    names = ", ".join(name + "=" for name in options)
    return f"{names} {'applies' if len(options) == 1 else 'apply'}"


def _options_of(classes: Iterable[type]) -> List[str]:
    """The constructor options of every class in ``classes``, in order, once each."""
    names: Dict[str, None] = {}
    for cls in classes:
        names.update(dict.fromkeys(constructor_options(cls)))
    return list(names)


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

        >>> ChatCompletion.create("gpt-4o", "Hi", provder="chatgptt")
        Traceback (most recent call last):
        ...
        TypeError: ChatCompletion.create() got an unexpected option 'provder' (did you mean 'provider'?); ...
        """
        parse_messages(messages)
        if proxy is not None:
            options["proxy"] = proxy
        where, own = "ChatCompletion.create()", ("model", "messages", "provider", "stream", "proxy")
        if isinstance(provider, type) and issubclass(provider, ChatProvider):
            options = take_options(where, options, own + tuple(constructor_options(provider)))
            chunks = provider.create_completion(model, messages, stream=stream, **options)
            return chunks if stream else "".join(chunks)
        client = provider_from(provider, options, where, own)
        if stream:
            return client.stream(messages, model=model)
        return str(client.complete(messages, model=model))
