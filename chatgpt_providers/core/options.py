"""The one rule for options, wherever a user passes them (a client's constructor,
``connect``, ``detect``, ``RetryProvider``, ``complete``/``stream``/``reply``,
``create_completion``, ``ChatCompletion.create``, ``Client``): the generation options that
gpt4free-style and OpenAI-style code passes by habit (sampling settings, gpt4free-only
switches) are accepted and ignored, because the site's bot settings decide them; anything
else is a ``TypeError`` that names the class or function the user called and suggests the
closest valid name.

Imports nothing heavy: ``inspect`` and ``difflib`` are loaded only to explain a bad option.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping

__all__ = ["SAMPLING_OPTIONS", "GPT4FREE_OPTIONS", "IGNORED_OPTIONS", "take_options",
           "constructor_options", "stream_options", "split_options", "build_client"]

log = logging.getLogger("chatgpt_providers")

#: Sampling settings: the site's bot settings decide them, so they are accepted and ignored.
SAMPLING_OPTIONS: FrozenSet[str] = frozenset({
    "temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens", "max_new_tokens",
    "presence_penalty", "frequency_penalty", "repetition_penalty", "stop", "seed",
    "logit_bias", "reasoning_effort",
})
#: Switches of gpt4free's ``ChatCompletion.create`` / ``create_completion`` that mean nothing
#: here (keys, provider selection, web search, continuation): accepted and ignored.
GPT4FREE_OPTIONS: FrozenSet[str] = frozenset({
    "api_key", "api_base", "auth", "web_search", "ignored", "ignore_working", "ignore_stream",
    "auto_continue", "completion_model", "continuation_attempts", "conversation",
    "return_conversation", "conversation_id", "language",
})
#: Every option accepted and ignored wherever options are taken.
IGNORED_OPTIONS: FrozenSet[str] = SAMPLING_OPTIONS | GPT4FREE_OPTIONS


def take_options(where: str, options: Mapping[str, Any], accepted: Iterable[str]) -> Dict[str, Any]:
    """The options ``where`` (the public call, as the user wrote it, e.g. ``"ChatGptt()"``)
    keeps: ``options`` without the ignored ones (:data:`IGNORED_OPTIONS`, logged at DEBUG).
    Any option neither ``accepted`` nor ignored raises a ``TypeError`` naming ``where`` and
    the closest valid name.

    >>> take_options("ChatGptt()", {"timeout": 5, "temperature": 0.2}, ["timeout", "proxy"])
    {'timeout': 5}
    >>> take_options("ChatGptt()", {"timeuot": 5}, ["timeout", "proxy"])
    Traceback (most recent call last):
    ...
    TypeError: ChatGptt() got an unexpected option 'timeuot' (did you mean 'timeout'?); it takes ...
    """
    names = list(dict.fromkeys(accepted))
    kept: Dict[str, Any] = {}
    ignored: List[str] = []
    unknown: List[str] = []
    for name, value in options.items():
        if name in names:
            kept[name] = value
        elif name in IGNORED_OPTIONS:
            ignored.append(name)
        else:
            unknown.append(name)
    if unknown:
        raise _unexpected(where, unknown, names)
    if ignored:
        log.debug("%s: ignored options %s: the site's bot settings decide them", where,
                  sorted(ignored))
    return kept


def constructor_options(cls: type) -> List[str]:
    """The keyword options ``cls(...)`` takes, following ``**options`` up to the base classes.

    >>> from chatgpt_providers import ChatGptt
    >>> constructor_options(ChatGptt)[:4]
    ['base_url', 'page', 'bot_id', 'max_messages']
    """
    import inspect

    names: List[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            break
        more = False
        for parameter in parameters:
            if parameter.kind is parameter.VAR_KEYWORD:
                more = True
            elif parameter.kind is not parameter.VAR_POSITIONAL and parameter.name not in (
                    "self", *names):
                names.append(parameter.name)
        if not more:
            break
    return names


_STREAM_OPTIONS: Dict[type, List[str]] = {}


def stream_options(cls: type) -> List[str]:
    """The keyword options ``cls.stream`` takes by name (remembered per class): what
    ``complete``, ``reply`` and the other calls built on ``stream`` pass on to it.

    >>> from chatgpt_providers import ChatGptt
    >>> stream_options(ChatGptt)
    ['model', 'chat_id', 'reply']
    """
    names = _STREAM_OPTIONS.get(cls)
    if names is None:
        import inspect

        stream = cls.__dict__.get("stream") or next(
            klass.__dict__["stream"] for klass in cls.__mro__ if "stream" in klass.__dict__)
        names = [parameter.name for parameter in inspect.signature(stream).parameters.values()
                 if parameter.kind is parameter.KEYWORD_ONLY]
        _STREAM_OPTIONS[cls] = names
    return names


def split_options(cls: type, options: Mapping[str, Any]) -> Dict[str, Any]:
    """``options`` without the ignored ones (:data:`IGNORED_OPTIONS`, logged at DEBUG); the
    rest are left for ``cls`` to judge.

    >>> from chatgpt_providers import ChatGptt
    >>> split_options(ChatGptt, {"timeout": 5, "temperature": 0.2, "web_search": True})
    {'timeout': 5}
    """
    return take_options(cls.__name__, options,
                        [name for name in options if name not in IGNORED_OPTIONS])


def build_client(cls: type, options: Mapping[str, Any], where: str = "") -> Any:
    """``cls(**options)`` without the ignored options; an unknown option raises a
    ``TypeError`` naming ``where`` (the call the user made; by default ``cls()``) and the
    options ``cls`` takes.

    >>> from chatgpt_providers import ChatGptt
    >>> build_client(ChatGptt, {"timeout": 5, "max_tokens": 100}).transport.timeout
    (5.0, 5.0)
    >>> build_client(ChatGptt, {"tiemout": 5}, "ChatGptt.create_completion()")
    Traceback (most recent call last):
    ...
    TypeError: ChatGptt.create_completion() got an unexpected option 'tiemout' (did you mean 'timeout'?); ...
    """
    kept = take_options(where or f"{cls.__name__}()", options, constructor_options(cls))
    return cls(**kept)


def _unexpected(where: str, unknown: List[str], accepted: List[str]) -> TypeError:
    import difflib

    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, accepted + sorted(IGNORED_OPTIONS), n=1)
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    plural = "s" if len(unknown) > 1 else ""
    takes = f"it takes {', '.join(accepted)}" if accepted else "it takes no options"
    return TypeError(
        f"{where} got an unexpected option{plural} {', '.join(hints)}; {takes} (sampling "
        "options such as temperature= and gpt4free's web_search=, api_key= are accepted and "
        "ignored)"
    )
