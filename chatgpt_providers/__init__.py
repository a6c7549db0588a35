"""chatgpt_providers: a synchronous, requests-based client for the free chat widgets that
WordPress sites expose (the AI Engine and AI Power plugins).

>>> from chatgpt_providers import ChatGptt
>>> for text in ChatGptt().stream("Hi"):          # doctest: +SKIP
...     print(text, end="", flush=True)

Protocol clients take any site (``AIEngine(url)``, ``AIPower(url, page=...)``); the
``Chatgpt4Online`` and ``ChatGptt`` presets are two such sites. Errors live in
:mod:`chatgpt_providers.errors`; the built-in local stand-in site in
:mod:`chatgpt_providers.testing` (imported only when you use it).

``from chatgpt_providers import *`` leaves the built-in ``TimeoutError`` alone: ours is
``chatgpt_providers.TimeoutError`` (a subclass of the built-in, so ``except TimeoutError``
catches it either way). ``ChatCompletion`` here is gpt4free's entry point
(``ChatCompletion.create(...)``); the OpenAI-style result type of the same name lives in
:mod:`chatgpt_providers.interfaces.openai_style`, as ``openai.types.chat.ChatCompletion``
does in the OpenAI SDK.
"""

from typing import TYPE_CHECKING, Any, List

from .core.messages import format_prompt
from .core.provider import ChatAPI, ChatProvider
from .core.results import Answer, Reply
from .core.retry import RetryPolicy
from .errors import (
    AllProvidersFailedError,
    AuthenticationError,
    BlockedError,
    CrossOriginError,
    NetworkError,
    NonceError,
    ProviderError,
    RateLimitError,
    RejectedError,
    ResponseError,
    ServerError,
    StreamInterruptedError,
    UnsupportedSiteError,
)
from .errors import TimeoutError as TimeoutError  # not in __all__: see the docstring
from .interfaces.failover import RetryProvider
from .protocols.ai_engine import AIEngine, Chatgpt4Online
from .protocols.ai_power import AIPower, ChatGptt
from .protocols.aipkit import AIPKit

__version__ = "0.1.0"

if TYPE_CHECKING:  # what type checkers see for the names loaded on first use (below)
    from .interfaces.compat import ChatCompletion
    from .interfaces.conversation import Conversation
    from .interfaces.detection import connect, detect
    from .interfaces.openai_style import Client

# Loaded on first use, so ``import chatgpt_providers`` stays as light as ``import requests``.
_LAZY = {
    "Client": "interfaces.openai_style",
    "ChatCompletion": "interfaces.compat",
    "Conversation": "interfaces.conversation",
    "connect": "interfaces.detection",
    "detect": "interfaces.detection",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))


class _InterfaceCall:
    """A method of every client whose body is an interface function over any client
    (``bot.conversation()`` is ``interfaces.conversation.conversation(bot)``), its module
    loaded on first use like the names above. Set here, by the public face, so the core
    never imports an interface; Python runs this file before any submodule, so every
    client has these methods."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __get__(self, client: Any, owner: Any = None) -> Any:
        import importlib

        function = getattr(importlib.import_module(f".{self.module}", __name__), self.name)
        return function if client is None else function.__get__(client, owner)


for _method, _module, _function in (("conversation", "interfaces.conversation", "conversation"),
                                    ("batch", "interfaces.batch", "run_batch"),
                                    ("display_stream", "interfaces.notebook", "display_reply")):
    setattr(ChatAPI, _method, _InterfaceCall(_module, _function))  # replaces the core's stubs

__all__ = [
    "Client",
    "ChatCompletion",
    "Conversation",
    "connect",
    "detect",
    "Answer",
    "AIEngine",
    "AIPower",
    "AIPKit",
    "Chatgpt4Online",
    "ChatGptt",
    "ChatProvider",
    "Reply",
    "RetryProvider",
    "RetryPolicy",
    "format_prompt",
    "ProviderError",
    "NonceError",
    "AuthenticationError",
    "RateLimitError",
    "BlockedError",
    "RejectedError",
    "ServerError",
    "ResponseError",
    "UnsupportedSiteError",
    "CrossOriginError",
    "NetworkError",
    # "TimeoutError" is left out on purpose: a star import must not shadow the built-in.
    "StreamInterruptedError",
    "AllProvidersFailedError",
    "__version__",
]
