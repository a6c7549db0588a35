"""The providers the package ships, one row each: the one table that the CLI's
``--provider``, :func:`~chatgpt_providers.interfaces.compat.resolve_provider`, the API
server's models, the ``llm`` plugin's models and detection's clients are read from.

>>> [entry.key for entry in PROVIDERS]
['chatgpt4online', 'chatgptt', 'ai-engine', 'ai-power', 'aipkit']
>>> find("AIPKit").client.__name__, find("ai_power").key, find("gpt-4o") is None
('AIPKit', 'ai-power', True)

What a row does not repeat stays with the client class it names: a preset's site
(``Chatgpt4Online.url``), the page that shows its chatbot (the constructor's ``page``, which
``ChatGptt()`` made directly must get too), the plugin generations it speaks (``speaks``) and
the model names gpt4free code passes (``models``).

Adding a plugin: its module in ``protocols/``, one row here, its module in ``testing/``, tests
(``tests/test_registry.py`` holds the table to what each interface offers).

Constraint: ``import chatgpt_providers`` does not load this module (the interfaces that read it
are loaded on first use); it loads nothing the package's import has not loaded already.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Type

from ..core.protocol import Protocol
from ..core.provider import ChatProvider
from ..core.record import Record
from ..protocols.ai_engine import AIEngine, Chatgpt4Online, EngineProtocol
from ..protocols.ai_power import AIPower, ChatGptt, PowerProtocol
from ..protocols.aipkit import AIPKit, AIPKitProtocol

__all__ = ["ProviderEntry", "PROVIDERS", "PRESETS", "GENERATIONS", "find", "for_generation",
           "normalized"]

#: Every plugin generation a page can show, by its protocol (which recognises its page and
#: reads its version there), in the order detection reads a page that shows several.
GENERATIONS: Tuple[Type[Protocol], ...] = (EngineProtocol, AIPKitProtocol, PowerProtocol)


class ProviderEntry(Record):
    """One provider: its ``key`` (the name the CLI's ``--provider``, the API's ``model`` and
    ``resolve_provider`` take; the class name is accepted too), its ``client`` class, and the
    plugin generations (detection's names) for which ``connect()`` answers with this client.

    >>> entry = find("chatgptt")
    >>> entry.preset, entry.url, entry.model
    (True, 'https://chatgptt.me', 'chatgptt')
    >>> find("aipkit").preset, find("aipkit").model
    (False, None)
    """

    __slots__ = ("key", "client", "detects")
    key: str
    client: Type[ChatProvider]
    detects: Tuple[str, ...]

    def __init__(self, key: str, client: Type[ChatProvider], detects: Tuple[str, ...] = ()) -> None:
        super().__init__(key, client, detects)

    @property
    def preset(self) -> bool:
        """Whether the client talks to one known site by default (no ``base_url`` needed)."""
        return self.client.url is not None

    @property
    def url(self) -> Optional[str]:
        """The preset's site (None for a protocol client, which needs ``base_url``)."""
        return self.client.url

    @property
    def model(self) -> Optional[str]:
        """The model id the API server serves it as (presets only: the others need a site)."""
        return self.key if self.preset else None


#: Every provider, presets first (the order of the CLI's choices and the API's models).
PROVIDERS: Tuple[ProviderEntry, ...] = (
    ProviderEntry("chatgpt4online", Chatgpt4Online),
    ProviderEntry("chatgptt", ChatGptt),
    ProviderEntry("ai-engine", AIEngine, detects=AIEngine.speaks),
    # AIPower answers for both AI Power generations: a client made for a page keeps working
    # when the site upgrades to 2.3+.
    ProviderEntry("ai-power", AIPower, detects=AIPower.speaks),
    ProviderEntry("aipkit", AIPKit),
)
#: The presets, in order.
PRESETS: Tuple[ProviderEntry, ...] = tuple(entry for entry in PROVIDERS if entry.preset)


def normalized(name: str) -> str:
    """A provider name as compared: any case, ``-`` and ``_`` ignored.

    >>> normalized("AI_Engine"), normalized("ai-engine")
    ('aiengine', 'aiengine')
    """
    return name.replace("-", "").replace("_", "").lower()


_BY_NAME: Dict[str, ProviderEntry] = {}
for _entry in PROVIDERS:
    _BY_NAME.setdefault(normalized(_entry.key), _entry)
    _BY_NAME.setdefault(normalized(_entry.client.__name__), _entry)


def find(name: str) -> Optional[ProviderEntry]:
    """The row a name means (its key or its class name, see :func:`normalized`), or None
    (see the module's example)."""
    return _BY_NAME.get(normalized(name))


def for_generation(generation: str) -> Optional[ProviderEntry]:
    """The row whose client ``connect()`` makes for a plugin generation detection names.

    >>> for_generation("AI Power 2.3+").key
    'ai-power'
    """
    for entry in PROVIDERS:
        if generation in entry.detects:
            return entry
    return None
