"""LangChain's chat model interface over the chat widgets (``pip install
'chatgpt-providers[langchain]'``; needs only ``langchain-core``).

>>> from chatgpt_providers.langchain import ChatProviders
>>> from chatgpt_providers.testing import LocalSite
>>> with LocalSite() as site:
...     ChatProviders(provider="chatgpt4online", base_url=site.url).invoke("Hi").content
'Echo: Hi'

See :class:`~chatgpt_providers.interfaces.langchain_model.ChatProviders`.
"""

from .interfaces.langchain_model import ChatProviders

__all__ = ["ChatProviders"]
