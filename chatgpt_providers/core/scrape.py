"""Reading WordPress pages: a page's text in its charset (:func:`page_text`), and chatbot
settings out of it in linear time on any input.

No regular expression here can backtrack over the page: tags are found with ``str.find``,
and attributes are read one by one with an anchored pattern whose branches start with
different characters.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional

import requests

__all__ = ["page_text", "tags_with", "attributes_at", "find_script_value", "find_script_variable",
           "script_version"]

#: Longest tag read; a hostile page cannot make one tag cost more.
MAX_TAG_CHARS = 64 * 1024

_ATTRIBUTE = r"""[\s/]*([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?"""


def attributes_at(page: str, start: int) -> Dict[str, str]:
    """Attributes of the tag whose ``<`` is at ``start`` (names lower-cased, entities decoded).

    >>> attributes_at('<div class = "a b" data-x=\\'1\\' data-y=2 hidden>', 0)
    {'class': 'a b', 'data-x': '1', 'data-y': '2', 'hidden': ''}
    """
    end = min(len(page), start + MAX_TAG_CHARS)
    pos = start + 1
    while pos < end and page[pos] not in " \t\r\n/>":  # the tag name
        pos += 1
    attrs: Dict[str, str] = {}
    attribute = re.compile(_ATTRIBUTE)  # cached by re after the first call
    while pos < end:
        if page.startswith(">", pos):
            break
        match = attribute.match(page, pos, end)
        if not match or match.end() == pos:
            break
        name = match.group(1).lower()
        value = next((g for g in match.group(2, 3, 4) if g is not None), "")
        attrs.setdefault(name, _unescape(value))
        pos = match.end()
        while pos < end and page[pos] in " \t\r\n/":
            pos += 1
    return attrs


def _unescape(value: str) -> str:
    if "&" not in value:
        return value
    import html  # its entity table is large; most attribute values never need it

    return html.unescape(value)


def tags_with(page: str, marker: str, *, tag: str = "div") -> List[Dict[str, str]]:
    """Attributes of every ``<tag>`` whose opening tag contains ``marker``.

    Finds the marker with ``str.find`` and reads the tag around it, so attribute order,
    quotes, spaces around ``=`` and entities do not matter.

    >>> page = '<p>x</p><div data-nonce = "ab12" class="wpaicg-chatbox">'
    >>> tags_with(page, "wpaicg-chatbox")
    [{'data-nonce': 'ab12', 'class': 'wpaicg-chatbox'}]
    """
    found: List[Dict[str, str]] = []
    opening = "<" + tag
    seen_starts = set()
    pos = page.find(marker)
    while pos >= 0:
        start = page.rfind(opening, max(0, pos - MAX_TAG_CHARS), pos)
        if start >= 0 and start not in seen_starts:
            attrs = attributes_at(page, start)
            # the marker must be inside this tag, not in text after it
            if any(marker in key or marker in value for key, value in attrs.items()):
                seen_starts.add(start)
                found.append(attrs)
        pos = page.find(marker, pos + len(marker))
    return found


def find_script_value(page: str, key: str) -> str:
    """The string value of ``"key": "..."`` in an inline script, or ``""``.

    >>> script = 'wpaicgParams = {"ajax_url":"https:\\\\/\\\\/s\\\\/a.php","search_nonce":"ab"};'
    >>> find_script_value(script, "ajax_url")
    'https://s/a.php'
    """
    match = re.search(r'["\']' + re.escape(key) + r'["\']\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"', page)
    if not match:
        return ""
    return match.group(1).replace("\\/", "/")


_SCRIPT_VARIABLE = (r"\b(?:let|var|const)\s+{name}\s*=\s*"
                    r"""(?:'([^'\\\n]*(?:\\.[^'\\\n]*)*)'|"([^"\\\n]*(?:\\.[^"\\\n]*)*)"|([^;,\s'"<]+))""")


def find_script_variable(page: str, name: str) -> Optional[str]:
    """The value a script declares as ``let|var|const name = ...``: a quoted string
    (JavaScript escapes decoded) or a bare literal as written (``0.8``, ``null``); None when
    the page declares no such variable.

    >>> page = "<script>let restNonce = 'ab\\\\'c'; let maxTokens = 1024; var x = \\"\\\\u00e9\\";</script>"
    >>> find_script_variable(page, "restNonce"), find_script_variable(page, "maxTokens")
    ("ab'c", '1024')
    >>> find_script_variable(page, "x"), find_script_variable(page, "apiURL") is None
    ('é', True)
    """
    match = re.search(_SCRIPT_VARIABLE.format(name=re.escape(name)), page)
    if not match:
        return None
    single, double, bare = match.groups()
    if bare is not None:
        return bare
    return _js_string(single if single is not None else double)


def _js_string(raw: str) -> str:
    """The text of a JavaScript string literal's body (escapes decoded as JSON does, plus
    ``\\'``); the raw text when it does not decode."""
    if "\\" not in raw:
        return raw
    import json

    text = raw.replace("\\'", "'").replace('"', '\\"').replace('\\\\"', '\\"')
    try:
        value = json.loads(f'"{text}"')
    except ValueError:
        return raw
    return value if isinstance(value, str) else raw


_DOTTED_VERSION = re.compile(r"\d+(?:\.\d+)+")


def script_version(page: str, script: str) -> Optional[str]:
    """The ``ver=`` of the first ``<script>`` whose ``src`` holds ``script``, when it is a
    dotted version: a stylesheet's ``?ver=`` and a file time (``ver=1787344627``, what
    WordPress plugins stamp some assets with) are no version.

    >>> page = ("<link href='/p/x.css?ver=1787344627'><script src='/p/x.js?ver=1700194369'>"
    ...         "</script><script id='y' src='/p/x.js?ver=2.4.71&amp;z=1'></script>")
    >>> script_version(page, "/p/x.js"), script_version(page, "/p/x.css")
    ('2.4.71', None)
    """
    for attrs in tags_with(page, script, tag="script"):
        src = attrs.get("src", "")
        if script not in src:
            continue
        marker = src.find("ver=", src.find("?") + 1 if "?" in src else len(src))
        if marker < 0:
            continue
        value = src[marker + 4:].split("&", 1)[0]
        if _DOTTED_VERSION.fullmatch(value):
            return value
    return None


_CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)


def page_text(response: requests.Response) -> str:
    """A page's HTML as text, in the charset its Content-Type or ``<meta>`` names, else UTF-8
    (what WordPress writes; ``requests`` would guess ISO-8859-1 for ``text/html`` without a
    charset); a leading byte-order mark is dropped, undecodable bytes are replaced.

    >>> response = requests.Response()
    >>> response._content = "<p>чат</p>".encode()
    >>> response.headers["Content-Type"] = "text/html"
    >>> page_text(response)
    '<p>чат</p>'
    """
    body = response.content or b""
    found = _CHARSET.search(response.headers.get("content-type", "").encode("latin-1", "replace"))
    if found is None:
        found = _CHARSET.search(body[:4096])
    charset = found.group(1).decode("ascii") if found else "utf-8"
    if body.startswith(b"\xef\xbb\xbf"):
        body, charset = body[3:], "utf-8"
    try:
        return body.decode(charset, "replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", "replace")
