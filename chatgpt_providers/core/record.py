"""A small record base: ``__slots__`` fields with init, repr, equality and ``_replace``.

It stands in for ``dataclasses``, whose import (``inspect``, ``ast``, ``dis``) and per-class
code generation would make ``import chatgpt_providers`` noticeably slower (benchmark row 6:
import time against ``import requests``).
"""

from __future__ import annotations

from typing import Any, Tuple, TypeVar

_R = TypeVar("_R", bound="Record")


class Record:
    """Fields are the ``__slots__``; ``_hidden`` ones stay out of ``repr`` (nonces).

    >>> class Point(Record):
    ...     __slots__ = ("x", "y")
    >>> Point(1, y=2), Point(1, 2) == Point(1, 2), Point(1, 2)._replace(y=5)
    (Point(x=1, y=2), True, Point(x=1, y=5))
    """

    __slots__: Tuple[str, ...] = ()
    _hidden: Tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} fields")
        values = dict(zip(names, args))
        for name, value in kwargs.items():
            if name not in names or name in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated field {name!r}")
            values[name] = value
        for name in names:
            if name not in values:
                raise TypeError(f"{type(self).__name__} needs field {name!r}")
            object.__setattr__(self, name, values[name])

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__ if n not in self._hidden)
        return f"{type(self).__name__}({shown})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, n) for n in self.__slots__))

    def _replace(self: _R, **changes: Any) -> _R:
        values = {n: getattr(self, n) for n in self.__slots__}
        values.update(changes)
        return type(self)(**values)
