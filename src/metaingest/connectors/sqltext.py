"""A small SQL lexer for the CREATE statements engines keep as text (SQLite, DuckDB).

SQLite keeps a generated column's expression, a partial index's predicate and a view's
query only inside the ``CREATE`` statement in ``sqlite_master``; DuckDB gives views as
statements too. This reads those pieces out of the statement by tokens — strings, quoted
names (``"x"``, ```x```, ``[x]``), comments and parentheses are respected — never by
searching the raw text, so an ``AS`` inside a string, a comment or a name is not taken for
the keyword.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

__all__ = [
    "TableText",
    "Token",
    "index_parts",
    "table_text",
    "tokenize",
    "view_query",
]

_LEXER = re.compile(
    r"""
      (?P<space>\s+|--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>'(?:[^']|'')*'?)
    | (?P<name>"(?:[^"]|"")*"?|`(?:[^`]|``)*`?|\[[^\]]*\]?)
    | (?P<word>[^\W\d][\w$]*)
    | (?P<number>\d[\w.]*)
    | (?P<punct>.)
    """,
    re.DOTALL | re.VERBOSE,
)
_NAMES = frozenset({"word", "name"})
_TABLE_CONSTRAINTS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind (word, name, string, number, punct), text and span."""

    kind: str
    text: str
    start: int
    end: int

    def is_word(self, *words: str) -> bool:
        """Whether this is an unquoted word, one of ``words`` (any case)."""
        return self.kind == "word" and self.text.upper() in words


def tokenize(sql: str) -> list[Token]:
    """The tokens of ``sql``, without white space and comments."""
    out = []
    for match in _LEXER.finditer(sql):
        kind = match.lastgroup
        if kind is not None and kind != "space":
            out.append(Token(kind, match.group(), match.start(), match.end()))
    return out


def unquote(token: Token) -> str:
    """A name token's name: quotes removed, doubled quotes undoubled."""
    text = token.text
    if token.kind != "name" or len(text) < 2:
        return text
    if text[0] == "[":
        return text[1:-1]
    return text[1:-1].replace(text[0] * 2, text[0])


def _closing(tokens: list[Token], open_at: int) -> int:
    """The index of the parenthesis that closes the one at ``open_at`` (or the last token)."""
    depth = 0
    for i in range(open_at, len(tokens)):
        text = tokens[i].text
        if tokens[i].kind == "punct" and text == "(":
            depth += 1
        elif tokens[i].kind == "punct" and text == ")":
            depth -= 1
            if depth == 0:
                return i
    return len(tokens) - 1


def _split(tokens: list[Token], start: int, end: int) -> list[list[Token]]:
    """Tokens[start:end] split at the commas outside parentheses."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens[start:end]:
        if token.kind == "punct" and token.text == "(":
            depth += 1
        elif token.kind == "punct" and token.text == ")":
            depth -= 1
        elif token.kind == "punct" and token.text == "," and depth == 0:
            parts.append([])
            continue
        parts[-1].append(token)
    return [part for part in parts if part]


def _open_paren(tokens: list[Token], start: int = 0) -> int | None:
    for i in range(start, len(tokens)):
        if tokens[i].kind == "punct" and tokens[i].text == "(":
            return i
    return None


def _as_group(sql: str, part: list[Token]) -> str | None:
    """The text inside ``AS ( ... )`` at the top level of one column definition."""
    depth = 0
    for i, token in enumerate(part):
        if token.kind == "punct" and token.text in "()":
            depth += 1 if token.text == "(" else -1
        elif depth == 0 and token.is_word("AS") and i + 1 < len(part) and part[i + 1].text == "(":
            close = _closing(part, i + 1)
            return sql[part[i + 1].end : part[close].start].strip()
    return None


@dataclass(frozen=True, slots=True)
class TableText:
    """What a ``CREATE TABLE`` statement says beyond the catalog's pragmas."""

    generated: dict[str, str]  # column name, folded to lower case -> generation expression
    without_rowid: bool


def table_text(sql: str | None) -> TableText:
    """Generated-column expressions and ``WITHOUT ROWID`` of a ``CREATE TABLE`` statement."""
    if not sql:
        return TableText({}, without_rowid=False)
    tokens = tokenize(sql)
    open_at = _open_paren(tokens)
    if open_at is None:
        return TableText({}, without_rowid=False)
    close = _closing(tokens, open_at)
    generated = {}
    for part in _split(tokens, open_at + 1, close):
        first = part[0]
        if first.kind == "word" and first.text.upper() in _TABLE_CONSTRAINTS:
            continue
        expression = _as_group(sql, part[1:])
        if expression is not None:
            generated[unquote(first).lower()] = expression
    options = tokens[close + 1 :]
    without_rowid = any(a.is_word("WITHOUT") and b.is_word("ROWID") for a, b in pairwise(options))
    return TableText(generated, without_rowid)


def index_parts(sql: str | None) -> tuple[list[tuple[str | None, str]], str | None]:
    """The key parts and the WHERE predicate of a ``CREATE INDEX`` statement.

    Each part is (column name, text): the name when the part is a plain column, else None.
    """
    if not sql:
        return [], None
    tokens = tokenize(sql)
    on = next((i for i, t in enumerate(tokens) if t.is_word("ON")), None)
    open_at = _open_paren(tokens, on) if on is not None else None
    if open_at is None:
        return [], None
    close = _closing(tokens, open_at)
    parts = []
    for part in _split(tokens, open_at + 1, close):
        while len(part) > 1 and part[-1].is_word("ASC", "DESC"):
            part = part[:-1]
        if len(part) > 2 and part[-2].is_word("COLLATE"):
            part = part[:-2]
        column = unquote(part[0]) if len(part) == 1 and part[0].kind in _NAMES else None
        parts.append((column, sql[part[0].start : part[-1].end]))
    rest = tokens[close + 1 :]
    where = next((t for t in rest if t.is_word("WHERE")), None)
    predicate = sql[where.end :].strip().rstrip(";").strip() if where is not None else None
    return parts, predicate or None


def view_query(sql: str | None) -> str | None:
    """The query of a ``CREATE VIEW name [(columns)] AS query`` statement, without ``;``.

    Text that is not such a statement is returned stripped, as it is.
    """
    if sql is None:
        return None
    tokens = tokenize(sql) if sql.lstrip()[:6].upper() == "CREATE" else []
    if tokens and tokens[0].is_word("CREATE"):
        view = next((i for i, t in enumerate(tokens) if t.is_word("VIEW")), None)
        depth = 0
        for token in tokens[(view if view is not None else len(tokens)) :]:
            if token.kind == "punct" and token.text in "()":
                depth += 1 if token.text == "(" else -1
            elif depth == 0 and token.is_word("AS"):
                sql = sql[token.end :]
                break
    return sql.strip().rstrip(";").rstrip()
