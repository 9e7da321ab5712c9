"""Custom Vision's image metadata filter (``$filter``), compiled to SQL.

    camera eq 'a'
    camera eq 'a' and lens ne 'wide'
    (site eq 'north' or site eq 'south') and reviewed ne 'no'

A comparison is ``key eq 'value'`` or ``key ne 'value'``; comparisons join with ``and``
(binding tighter) and ``or``, and group with parentheses. Values are quoted with single
quotes; a quote inside a value is written twice (``'it''s'``), as in OData. Keys are
written bare: any run of characters other than spaces, parentheses and quotes. Keys and
values compare exactly (case matters); the words ``eq``, ``ne``, ``and``, ``or`` may be
written in any case.

``key eq 'v'`` holds for the images whose ``key`` is ``v``; ``key ne 'v'`` for every
other image, those without the key included (OData: a missing property is null, and null
is not ``'v'``). Each comparison becomes an ``IN`` over the index
``image_metadata (key, value, image_id)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["compile_filter", "MAX_COMPARISONS"]

#: Comparisons one expression may hold.
MAX_COMPARISONS = 100
_TOKEN = re.compile(r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<quoted>'(?:[^']|'')*')|"
                    r"(?P<word>[^\s()']+)|(?P<bad>'))")
_GRAMMAR = ("the grammar is key eq 'value' or key ne 'value', joined by and / or, with "
            "parentheses, e.g. camera eq 'a' and lens ne 'wide'")


@dataclass(frozen=True)
class _Token:
    kind: str  # open, close, quoted, word
    text: str
    at: int


def _tokens(expression: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while True:
        while pos < len(expression) and expression[pos].isspace():
            pos += 1
        if pos >= len(expression):
            return out
        m = _TOKEN.match(expression, pos)
        if m is None or m.lastgroup == "bad":
            raise ValueError(f"$filter {expression!r}: an unclosed quote at character "
                             f"{pos + 1}; {_GRAMMAR}")
        kind = m.lastgroup or "word"
        out.append(_Token(kind, m.group(kind), m.start(kind)))
        pos = m.end()


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokens(expression)
        self.k = 0
        self.params: list[str] = []
        self.comparisons = 0

    def _fail(self, expected: str) -> ValueError:
        if self.k < len(self.tokens):
            t = self.tokens[self.k]
            where = f"found {t.text!r} at character {t.at + 1}"
        else:
            where = "the expression ends"
        return ValueError(f"$filter {self.expression!r}: expected {expected}, but {where}; "
                          f"{_GRAMMAR}")

    def _peek_word(self, *words: str) -> bool:
        if self.k >= len(self.tokens):
            return False
        t = self.tokens[self.k]
        return t.kind == "word" and t.text.lower() in words

    def parse(self) -> str:
        if not self.tokens:
            raise ValueError(f"$filter is empty; {_GRAMMAR}")
        sql = self._or()
        if self.k < len(self.tokens):
            raise self._fail("'and', 'or' or the end")
        return sql

    def _or(self) -> str:
        parts = [self._and()]
        while self._peek_word("or"):
            self.k += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def _and(self) -> str:
        parts = [self._factor()]
        while self._peek_word("and"):
            self.k += 1
            parts.append(self._factor())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def _factor(self) -> str:
        if self.k < len(self.tokens) and self.tokens[self.k].kind == "open":
            self.k += 1
            inner = self._or()
            if self.k >= len(self.tokens) or self.tokens[self.k].kind != "close":
                raise self._fail("')'")
            self.k += 1
            return inner
        return self._comparison()

    def _comparison(self) -> str:
        if self.k >= len(self.tokens) or self.tokens[self.k].kind != "word" \
                or self._peek_word("and", "or", "eq", "ne"):
            raise self._fail("a metadata key")
        key = self.tokens[self.k].text
        self.k += 1
        if not self._peek_word("eq", "ne"):
            raise self._fail(f"eq or ne after the key {key!r}")
        op = self.tokens[self.k].text.lower()
        self.k += 1
        if self.k >= len(self.tokens) or self.tokens[self.k].kind != "quoted":
            raise self._fail(f"a quoted value after {key!r} {op}, such as 'a'")
        value = self.tokens[self.k].text[1:-1].replace("''", "'")
        self.k += 1
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise ValueError(f"$filter holds more than {MAX_COMPARISONS} comparisons; "
                             "split the query")
        self.params += [key, value]
        neg = "NOT " if op == "ne" else ""
        return (f"i.id {neg}IN (SELECT image_id FROM image_metadata "
                "WHERE key = ? AND value = ?)")


def compile_filter(expression: str) -> tuple[str, list[str]]:
    """``(SQL condition on images aliased i, parameters)`` for a metadata filter; a
    ValueError names what is wrong and where."""
    if not isinstance(expression, str):
        raise ValueError(f"$filter should be text, not {type(expression).__name__}")
    parser = _Parser(expression)
    sql = parser.parse()
    return sql, parser.params
