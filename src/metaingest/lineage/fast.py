"""A hand-written reader of the view definitions servers print, for lineage without sqlglot.

PostgreSQL (``pg_get_viewdef``) and MariaDB (``information_schema.VIEWS``) print every view
in a normalized form: columns qualified by their relation, casts as ``::type`` or
``cast(x as type)``, aliases after ``AS``. Parsing that text with sqlglot costs about a
millisecond a view; reading it here costs a small fraction of that. The reader tokenizes
with one regular expression and reads the shapes ``direct`` answers — SELECT, WITH, set
operations, FROM with joins and derived tables — without understanding expressions: an
expression is read only far enough to know which column references it holds (dotted names
not followed by ``(``; not a type after ``::`` or in CAST, not the field of EXTRACT, not an
interval unit) and where it ends.

It answers exactly what ``parse_view`` would (``direct_columns``, or sqlglot's lineage walk,
which agrees with it), and declines (``read`` returns None, or ``Reading.columns`` does) on
anything it is not sure of: a subquery outside FROM / WITH, LATERAL, a table function, USING
or NATURAL joins, VALUES, a recursive CTE, CTE or alias column lists, a bare word it cannot
classify, a function whose arguments sqlglot reads in its own way, an operator it does not
know, a comment. A decline costs only the time spent reading; the caller then parses with
sqlglot. Only PostgreSQL and MySQL / MariaDB are read: SQLite and DuckDB keep the user's
own text, which sqlglot handles.

Which words are names and which are structure follows sqlglot's reading of them (the tests
sweep every keyword and special function sqlglot knows through every place a name can
stand). One thing the reader does not check: how many arguments a function takes. A
definition the server printed calls the server's functions rightly; where sqlglot would
reject or cut a call's argument list (``date(a, b)``, ``ceil(a, b, c)``: no server prints
them), the reader keeps every column of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from metaingest.entities import quote_name

from .index import Relation, RelationIndex

__all__ = ["Reading", "read"]

# the output columns of a query, in order: (name or None when unnamed, upstream column FQNs)
_Columns = list[tuple[str | None, frozenset[str]]]
_Source = Relation | _Columns
_Table = tuple[str, str, str]  # (catalog, db, name) as written, '' where left out

_OPERATOR_CHARS = r"[-+*/<>=~!@#%^&|?]+"
_NUMBER = r"\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"
_WORD = r"[^\W\d][\w$]*"
_PARTS = {  # one part of a name: a word or a quoted identifier
    "postgres": rf'(?:{_WORD}|"(?:[^"]|"")*")',
    "mysql": rf"(?:{_WORD}|`(?:[^`]|``)*`)",
}
_COMMENT = r"--[^\n]*|/\*"
# one master expression per dialect: each match is the whitespace before a token and the
# token (``findall`` returns the token). A dotted name (``a.b``, ``"s"."T"``, `` `d`.`t`.`c` ``)
# is one token; ``\S`` keeps every other character as a token of its own (the reader declines
# on any it does not expect).
_TOKENS = {
    "postgres": re.compile(
        rf"""\s*('(?:[^']|'')*'|{_PARTS["postgres"]}(?:\.{_PARTS["postgres"]})*|{_NUMBER}|::"""
        rf"""|{_COMMENT}|{_OPERATOR_CHARS}|\S)"""
    ),
    "mysql": re.compile(
        rf"""\s*('(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|0x[0-9a-fA-F]+"""
        rf"""|{_PARTS["mysql"]}(?:\.{_PARTS["mysql"]})*|{_NUMBER}|{_COMMENT}|{_OPERATOR_CHARS}"""
        rf"""|\S)"""
    ),
}
_SPLIT = {dialect: re.compile(part) for dialect, part in _PARTS.items()}
_END = " "  # the sentinel after the last token: whitespace never is a token

# symbolic binary operators the reader knows, per dialect (sqlglot parses all of them)
_BINARY_COMMON = frozenset(
    {"+", "-", "*", "/", "%", "=", "<>", "!=", "<", ">", "<=", ">=", "&", "|", "^", "<<", ">>"}
)
_BINARY = {
    "postgres": _BINARY_COMMON
    | {"||", "~", "~*", "!~", "!~*", "~~", "~~*", "!~~", "!~~*", "#", "@>", "<@", "&&"},
    "mysql": _BINARY_COMMON | {"<=>"},
}
# word operators between two operands
_BINARY_WORDS = {
    "postgres": frozenset({"and", "or", "like", "ilike"}),
    "mysql": frozenset({"and", "or", "xor", "like", "div", "mod", "regexp", "rlike"}),
}
# words that may follow NOT between two operands (NOT LIKE, NOT IN, ...)
_NEGATABLE = {
    "postgres": frozenset({"like", "ilike", "in", "between"}),
    "mysql": frozenset({"like", "in", "between", "regexp", "rlike"}),
}
# functions without parentheses (sqlglot's list for the dialect)
_NO_PAREN = {
    "postgres": frozenset(
        {"current_date", "current_time", "current_timestamp", "localtime", "localtimestamp"}
        | {"current_user", "session_user", "current_catalog", "current_schema"}
    ),
    "mysql": frozenset(
        {"current_date", "current_time", "current_timestamp", "localtime", "localtimestamp"}
        | {"current_user"}
    ),
}
# functions sqlglot reads with their own grammar, where a plain argument may not be a column
# or where the reader does not know the grammar: declined (names compared in lower case)
_DECLINED_FUNCTIONS = frozenset(
    {"convert", "decode", "gap_fill", "json_object", "json_objectagg", "json_table"}
    | {"json_value", "match", "normalize", "openjson", "safe_cast", "try_cast", "try_convert"}
    | {"weight_string", "values", "exists", "array", "predict", "jsonb_exists", "variadic"}
    | {"treat", "collation", "grouping", "xmlelement", "xmltable", "xmlforest", "xmlparse"}
    | {"xmlpi", "xmlroot", "xmlserialize", "xmlexists", "xmlconcat", "xmlattributes"}
    | {"get_format", "char", "uuid", "generate_uuid", "uuid_string", "var_map"}
)
_EXTRACT_FIELDS = {
    "postgres": frozenset(
        {"century", "day", "decade", "dow", "doy", "epoch", "hour", "isodow", "isoyear"}
        | {"julian", "microseconds", "millennium", "milliseconds", "minute", "month"}
        | {"quarter", "second", "timezone", "timezone_hour", "timezone_minute", "week", "year"}
    ),
    "mysql": frozenset(
        {"microsecond", "second", "minute", "hour", "day", "week", "month", "quarter", "year"}
        | {"second_microsecond", "minute_microsecond", "minute_second", "hour_microsecond"}
        | {"hour_second", "hour_minute", "day_microsecond", "day_second", "day_minute"}
        | {"day_hour", "year_month"}
    ),
}
_INTERVAL_FIELDS = frozenset({"year", "month", "day", "hour", "minute", "second"})
_INTERVAL_UNITS = _EXTRACT_FIELDS["mysql"]  # MySQL's interval units are its EXTRACT fields
# functions with keywords between their arguments: the keywords in their order, and how many
# arguments the comma form may have
_KEYWORD_ARGUMENTS: dict[str, tuple[tuple[str, ...], int]] = {
    "substring": (("from", "for"), 3),
    "substr": (("from", "for"), 3),
    "overlay": (("placing", "from", "for"), 1),
    "trim": (("from",), 2),
    "position": (("in",), 1),
}
# MySQL CAST target types the reader knows (sqlglot parses each)
_MYSQL_CAST_TYPES = frozenset(
    {"char", "nchar", "binary", "signed", "unsigned", "decimal", "double", "float", "date"}
    | {"datetime", "time", "json", "integer", "int"}
)
# PostgreSQL type names of more than one word: the first word -> the words that may follow
_PG_TYPE_TAILS = {
    "double": ("precision",),
    "character": ("varying",),
    "char": ("varying",),
    "bit": ("varying",),
}
# words that end a FROM item or a select list: never an alias
_CLAUSE_WORDS = frozenset(
    {"from", "where", "group", "having", "order", "limit", "offset", "union", "intersect"}
    | {"except", "window", "fetch", "for", "join", "inner", "left", "right", "full", "cross"}
    | {"natural", "on", "using", "straight_join", "lateral", "use", "force", "ignore"}
    | {"partition", "tablesample", "with", "returning", "into", "lock", "minus", "qualify"}
    | {"outer", "as", "select", "and", "or", "not", "then", "when", "else", "end"}
)
# structure words: never a name unquoted, in any place (a type, a function, a relation, a
# collation) but where a rule of the reader expects the word itself. sqlglot reads each of
# them as a keyword of its own.
_RESERVED = _CLAUSE_WORDS | frozenset(
    {"all", "alter", "analyze", "anti", "any", "apply", "asc", "asof", "auto_increment"}
    | {"autoincrement", "begin", "between", "cache", "call", "case", "collate", "column"}
    | {"comment", "commit", "connect_by_root", "constraint", "copy", "create", "cube"}
    | {"current_catalog", "current_date", "current_datetime", "current_role"}
    | {"current_schema", "current_time", "current_timestamp", "current_user", "database"}
    | {"declare", "default", "delete", "desc", "describe", "distinct", "do", "drop"}
    | {"escape", "exec", "execute", "exists", "explain", "false", "file", "filter", "first"}
    | {"format", "function", "glob", "grant", "ilike", "in", "index", "inout", "insert"}
    | {"is", "isnull", "keep", "kill", "like", "load", "localtime", "localtimestamp"}
    | {"merge", "namespace", "next", "notnull", "null", "nullable", "operator", "optimize"}
    | {"ordinality", "out", "over", "overlaps", "overwrite", "partitioned_by", "percent"}
    | {"pivot", "pragma", "prepare", "procedure", "recursive", "references", "refresh"}
    | {"regexp", "reindex", "release", "rename", "replace", "reset", "revoke", "rlike"}
    | {"rollback", "rollup", "row", "rows", "savepoint", "schema", "semi", "sequence"}
    | {"session", "session_user", "set", "settings", "show", "some", "table", "temp"}
    | {"temporary", "trigger", "true", "truncate", "type", "uncache", "unique", "unnest"}
    | {"unpivot", "update", "vacuum", "values", "variadic", "view", "volatile", "xor"}
    | {"cast", "array", "interval", "within", "separator", "div", "mod", "minus", "escape"}
    | {"only", "charset", "distinctrow", "key", "start", "vector"}
)
# words never read as a column, a relation alias or a CTE name: the structure words, type
# names, units, and words sqlglot reads in a way of its own. A bare word here, where the
# reader has no rule for it, makes the reader decline rather than guess.
_KEYWORDS = _RESERVED | frozenset(
    {"asymmetric", "at", "both", "by", "check", "current", "extract", "following"}
    | {"foreign", "groups", "last", "leading", "materialized", "nulls", "only", "placing"}
    | {"preceding", "primary", "range", "similar", "symmetric", "ties", "to", "trailing"}
    | {"unbounded", "unknown", "user", "zone", "exclude", "grouping", "sets", "key", "keys"}
    | {"binary", "collation", "character", "charset", "national", "varying", "precision"}
    | {"time", "timestamp", "timestamptz", "date", "datetime", "year", "month", "day"}
    | {"hour", "minute", "second", "week", "quarter", "microsecond", "epoch", "text"}
    | {"int", "integer", "bigint", "smallint", "numeric", "decimal", "real", "double"}
    | {"float", "boolean", "bool", "char", "varchar", "json", "jsonb", "uuid", "bit"}
    | {"value", "if", "ifnull", "nvl", "coalesce", "nullif", "greatest", "least"}
    | {"cursor", "prior", "connect", "start", "uescape", "nfc", "nfd", "nfkc", "nfkd"}
    | {"document", "content", "language", "names", "sample", "struct", "map", "list"}
    | {"system_user", "sysdate", "utc_date", "utc_time", "utc_timestamp", "nothing"}
    | {"respect", "local", "global", "identity", "generated", "always", "stored"}
    | {"virtual", "authorization", "approx", "distribute", "sort", "cluster", "level"}
    | {"rownum", "rowid", "xmin", "xmax", "ctid", "oid", "cmin", "cmax", "tableoid"}
    | {"excluded", "new", "old", "this", "of", "path", "vector", "string", "cstring"}
)
# functions named by a structure word that the reader reads as plain calls
_KEYWORD_FUNCTIONS = frozenset(
    {"left", "right", "replace", "format", "coalesce", "if", "any", "some", "all", "row"}
    | {"current_user", "current_date", "current_time", "current_timestamp", "localtime"}
    | {"localtimestamp", "mod", "first", "cast"}
)
_MYSQL_KEYWORD_FUNCTIONS = _KEYWORD_FUNCTIONS | {"database", "schema"}
# aggregates that take DISTINCT before their arguments (``*``: count alone), and those that
# take ORDER BY after them
_AGGREGATES = frozenset(
    {"count", "sum", "avg", "min", "max", "array_agg", "string_agg", "group_concat"}
    | {"json_agg", "jsonb_agg"}
)
_ORDERED_AGGREGATES = frozenset(
    {"array_agg", "string_agg", "group_concat", "json_agg", "jsonb_agg"}
)
# a column name after a dot, the qualifier before it, an alias after AS: any word but these
# (sqlglot reads them as structure)
_NOT_ALIAS = frozenset(
    {"from", "where", "group", "having", "order", "limit", "offset", "union", "intersect"}
    | {"except", "window", "fetch", "for", "select", "with", "on", "join", "as", "and", "or"}
    | {"not", "null", "true", "false", "case", "when", "then", "else", "end", "is", "in"}
    | {"like", "ilike", "between", "distinct", "all", "any", "some", "cast", "array", "using"}
    | {"lateral", "natural", "cross", "inner", "left", "right", "full", "outer", "qualify"}
    | {"values", "exists", "interval", "collate", "escape", "over", "filter", "within"}
    | {"minus", "into", "returning", "div", "mod", "xor", "regexp", "rlike", "separator"}
)


def _is_word(token: str) -> bool:
    first = token[0]
    return first.isalpha() or first == "_"


_NOTHING: frozenset[str] = frozenset()
_AFTER_ITEM = frozenset({",", "as", "from"})  # what may follow a select-list item


class _Decline(Exception):
    """The reader cannot be sure: sqlglot decides."""


class _Item:
    """One select-list item: ``*`` / ``t.*`` (star: the qualifier, () for ``*``) or an
    expression with the column references in it and its output name."""

    __slots__ = ("name", "refs", "star")

    def __init__(
        self, star: tuple[str, ...] | None, refs: list[tuple[str, ...]], name: str | None
    ) -> None:
        self.star = star
        self.refs = refs
        self.name = name


class _Select:
    __slots__ = ("items", "sources")

    def __init__(self, items: list[_Item], sources: list[_From]) -> None:
        self.items = items
        self.sources = sources


class _Query:
    """WITH (name, query)... then branches joined by set operations (one: a plain query)."""

    __slots__ = ("branches", "ctes")

    def __init__(self, ctes: list[tuple[str, _Query]], branches: list[_Select | _Query]) -> None:
        self.ctes = ctes
        self.branches = branches


class _From:
    """A FROM item: a relation or CTE by name, or a derived table; ``key`` is its alias (or
    its name)."""

    __slots__ = ("key", "query", "table")

    def __init__(self, key: str, table: _Table | None, query: _Query | None) -> None:
        self.key = key
        self.table = table
        self.query = query


@dataclass(frozen=True, slots=True)
class Reading:
    """A definition the reader understood: the relations it names and its query."""

    sql: str
    dialect: str
    tables: tuple[_Table, ...]  # as ``referenced_relations`` gives them: CTE names left out
    ctes: frozenset[str]
    query: _Query

    def columns(
        self,
        index: RelationIndex,
        catalog: str | None,
        db: str,
        view_columns: Sequence[str],
    ) -> dict[str, tuple[str, ...]] | None:
        """View column -> upstream column FQNs, as ``direct_columns`` answers; or None."""
        answer = self.lineage(index, catalog, db, view_columns)
        return None if answer is None else answer[1]

    def lineage(
        self,
        index: RelationIndex,
        catalog: str | None,
        db: str,
        view_columns: Sequence[str],
    ) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]] | None:
        """(upstream relation FQNs, view column -> upstream column FQNs), or None: unsure,
        or a relation the index does not know (every relation in ``tables`` is resolved)."""
        resolver = _Resolver(index, catalog, db, self.ctes)
        try:
            out = resolver.query(self.query, {})
        except _Decline:
            return None
        names = [name or f"_col_{i}" for i, (name, _) in enumerate(out)]
        if len(out) != len(view_columns) or len(set(names)) != len(names):
            return None
        columns = {
            column: tuple(sorted(edges))
            for column, (_, edges) in zip(view_columns, out, strict=True)
        }
        return tuple(sorted(resolver.upstream)), columns


def read(sql: str, dialect: str) -> Reading | None:
    """The definition read, or None where the reader is not sure of it."""
    pattern = _TOKENS.get("mysql" if dialect == "mariadb" else dialect)
    if pattern is None or "sqlglot.meta" in sql:
        return None
    tokens = pattern.findall(sql)
    tokens += (_END, _END, _END)
    parser = _Parser(tokens, dialect != "postgres")
    try:
        query = parser.query()
        if tokens[parser.i] == ";":
            parser.i += 1
        if parser.i != len(tokens) - 3:
            return None
    except (_Decline, RecursionError):  # nesting deeper than Python's stack: sqlglot decides
        return None
    ctes = frozenset(parser.cte_names)
    tables = {t: None for t in parser.tables if t[1] or t[2] not in ctes}
    return Reading(sql, dialect, tuple(tables), ctes, query)


class _Parser:
    """Recursive reader over the token list; ``_Decline`` wherever it is not sure."""

    def __init__(self, tokens: list[str], mysql: bool) -> None:
        self.t = tokens
        self.low = list(map(str.lower, tokens))  # keywords compare in lower case
        self.i = 0
        self.mysql = mysql
        dialect = "mysql" if mysql else "postgres"
        self.quote = "`" if mysql else '"'
        self.part = _SPLIT[dialect]
        self.binary = _BINARY[dialect]
        self.binary_words = _BINARY_WORDS[dialect]
        self.negatable = _NEGATABLE[dialect]
        self.no_paren = _NO_PAREN[dialect]
        self.fields = _EXTRACT_FIELDS[dialect]
        self.keyword_functions = _MYSQL_KEYWORD_FUNCTIONS if mysql else _KEYWORD_FUNCTIONS
        self.refs: list[tuple[str, ...]] = []  # column references of the current expression
        self.tables: list[_Table] = []
        self.cte_names: list[str] = []

    # --- tokens ----------------------------------------------------------------------------

    def expect(self, token: str) -> None:
        if self.t[self.i] != token:
            raise _Decline(token)
        self.i += 1

    def expect_word(self, word: str) -> None:
        if self.low[self.i] != word:
            raise _Decline(word)
        self.i += 1

    def split(self, token: str) -> list[str] | None:
        """The parts of a (dotted) name token as written, or None if it is no name."""
        first = token[0]
        quote = self.quote
        if first == quote:
            count = token.count(quote)
            if count == 2:  # one quoted part, the common case
                return [token]
            pieces = token[1:-1].split(quote + "." + quote)
            if len(pieces) * 2 == count:  # quoted parts only, no quote doubled in them
                return [quote + piece + quote for piece in pieces]
            return self.part.findall(token)
        if first.isalpha() or first == "_":
            return token.split(".") if quote not in token else self.part.findall(token)
        return None

    def dotted(self, first: frozenset[str], rest: frozenset[str]) -> list[str]:
        """The folded parts of the dotted name at ``i`` (consumed); unsure where an unquoted
        first part is in ``first`` or a later one in ``rest``."""
        token = self.t[self.i]
        quote = self.quote
        if token[0] == quote and token[-1] == quote:  # quoted parts only: the common case
            pieces = token[1:-1].split(quote + "." + quote)
            if len(pieces) * 2 == token.count(quote) and "" not in pieces:
                self.i += 1
                return pieces
        elif quote not in token and (token[0].isalpha() or token[0] == "_"):  # no quotes
            low = self.low[self.i].split(".")
            if low[0] in first or (len(low) > 1 and not rest.isdisjoint(low[1:])):
                raise _Decline("keyword in a name")
            parts = low
            if self.mysql:
                parts = token.split(".")
                if any(part[0] == "_" for part in parts):
                    raise _Decline("introducer")
            self.i += 1
            return parts
        raw = self.split(token)
        if raw is None:
            raise _Decline("name")
        for n, part in enumerate(raw):
            if part[0] != quote and part.lower() in (rest if n else first):
                raise _Decline("keyword in a name")
        self.i += 1
        return [self.fold(part) for part in raw]

    def fold(self, part: str) -> str:
        """One part of a name as the engine compares it."""
        quote = self.quote
        if part[0] == quote:
            if len(part) < 3:
                raise _Decline("empty quoted name")
            inner = part[1:-1]
            return inner.replace(quote + quote, quote) if quote in inner else inner
        if self.mysql:
            if part[0] == "_":  # MySQL reads _latin1 as a character set introducer
                raise _Decline("introducer")
            return part
        return part.lower()

    def name(self, token: str) -> str | None:
        """A token's identifier (folded as the engine folds it), or None if it is not a name
        of one part."""
        quote = self.quote
        if token[0] == quote and token[-1] == quote and token.count(quote) == 2:
            return token[1:-1]  # the common case
        parts = self.split(token)
        if parts is None or len(parts) != 1:
            return None
        return self.fold(parts[0])

    def identifier(self) -> str:
        """A name that must be one: quoted, or a word that is no keyword."""
        token = self.t[self.i]
        value = self.name(token)
        if value is None or (token[0] != self.quote and token.lower() in _KEYWORDS):
            raise _Decline("name")
        self.i += 1
        return value

    # --- queries ---------------------------------------------------------------------------

    def query(self) -> _Query:
        ctes: list[tuple[str, _Query]] = []
        if self.low[self.i] == "with":
            self.i += 1
            if self.low[self.i] == "recursive":
                raise _Decline("recursive")
            while True:
                name = self.identifier()
                self.expect_word("as")  # a column list, SEARCH / CYCLE: declined here
                if self.low[self.i] == "materialized":
                    self.i += 1
                elif self.low[self.i] == "not" and self.low[self.i + 1] == "materialized":
                    self.i += 2
                self.expect("(")
                ctes.append((name, self.query()))
                self.expect(")")
                self.cte_names.append(name)
                if self.t[self.i] != ",":
                    break
                self.i += 1
        branches = [self.term()]
        while self.low[self.i] in ("union", "intersect", "except"):
            self.i += 1
            if self.low[self.i] in ("all", "distinct"):
                self.i += 1
            branches.append(self.term())
        self.tail()
        return _Query(ctes, branches)

    def term(self) -> _Select | _Query:
        word = self.low[self.i]
        if word == "select":
            return self.select()
        if self.t[self.i] == "(":
            self.i += 1
            query = self.query()
            self.expect(")")
            return query
        raise _Decline("query")

    def tail(self) -> None:
        """ORDER BY, LIMIT, OFFSET of a query: read, their columns ignored (as direct.py)."""
        refs, self.refs = self.refs, []
        if self.low[self.i] == "order":
            self.i += 1
            self.expect_word("by")
            self.sort_list()
        while True:
            word = self.low[self.i]
            if word == "limit":
                self.i += 1
                if self.low[self.i] == "all":
                    self.i += 1
                else:
                    self.expr()
                    if self.mysql and self.t[self.i] == ",":  # LIMIT offset, count
                        self.i += 1
                        self.expr()
            elif word == "offset":
                self.i += 1
                self.expr()
                if not self.mysql and self.low[self.i] in ("row", "rows"):
                    self.i += 1
            else:
                break
        self.refs = refs

    def select(self) -> _Select:
        self.i += 1  # SELECT
        word = self.low[self.i]
        if word == "distinct":
            self.i += 1
            if self.low[self.i] == "on" and not self.mysql:
                self.i += 1
                self.expect("(")
                refs, self.refs = self.refs, []
                self.expr_list(")")
                self.refs = refs
        elif word == "all":
            raise _Decline("select all")
        items = [self.item()]
        while self.t[self.i] == ",":
            self.i += 1
            items.append(self.item())
        sources: list[_From] = []
        if self.low[self.i] == "from":
            self.i += 1
            self.from_list(sources, False)
        refs, self.refs = self.refs, []
        if self.low[self.i] == "where":
            self.i += 1
            self.expr()
        if self.low[self.i] == "group":
            self.i += 1
            self.expect_word("by")
            self.group_list()
        if self.low[self.i] == "having":
            self.i += 1
            self.expr()
        self.refs = refs
        return _Select(items, sources)

    def item(self) -> _Item:
        t = self.t
        token = t[self.i]
        if token == "*":
            self.i += 1
            return _Item((), [], None)
        if t[self.i + 1] == "." and t[self.i + 2] == "*":
            qualifier = self.name(token)
            if qualifier is None:
                raise _Decline("star")
            self.i += 3
            return _Item((qualifier,), [], None)
        refs = self.refs = []
        if self.low[self.i + 1] in _AFTER_ITEM and (
            token[0] == self.quote or ("." in token and token[0].isalpha())
        ):  # a lone (qualified) column, the common item: what operand and chain would read
            if token[0] != self.quote and token.split(".", 1)[0].lower() in _NOT_ALIAS:
                raise _Decline("keyword in a name")
            parts = self.dotted(_NOTHING, _NOT_ALIAS)
            if len(parts) > 4:
                raise _Decline("name")
            refs.append(tuple(parts))
            plain = True
        else:
            plain = self.expr()
        name: str | None = None
        if self.low[self.i] == "as":
            self.i += 1
            token = t[self.i]
            name = self.name(token)
            if name is None or (token[0] != self.quote and token.lower() in _NOT_ALIAS):
                raise _Decline("alias")
            self.i += 1
        elif plain:
            name = refs[0][-1]
        return _Item(None, refs, name)

    def from_list(self, out: list[_From], nested: bool) -> None:
        """FROM items and joins, into ``out``; ``nested``: inside a parenthesized join."""
        self.from_item(out)
        while True:
            token = self.t[self.i]
            if token == "," and not nested:
                self.i += 1
                self.from_item(out)
                continue
            word = self.low[self.i]
            cross = word == "cross"
            if word in ("inner", "cross"):
                self.i += 1
            elif word in ("left", "right", "full"):
                self.i += 1
                if self.low[self.i] == "outer":
                    self.i += 1
            elif word != "join":
                return
            self.expect_word("join")
            self.from_item(out)
            if self.low[self.i] == "on" and not cross:
                self.i += 1
                refs, self.refs = self.refs, []
                self.expr()
                self.refs = refs

    def from_item(self, out: list[_From]) -> None:
        t = self.t
        if t[self.i] == "(":
            self.i += 1
            if self.low[self.i] in ("select", "with"):  # a derived table
                query = self.query()
                self.expect(")")
                if self.low[self.i] == "as":
                    self.i += 1
                key = self.identifier()
                if t[self.i] == "(":
                    raise _Decline("alias column list")
                out.append(_From(key, None, query))
                return
            self.from_list(out, True)  # a parenthesized join
            self.expect(")")
            token = self.t[self.i]
            if token[0] == self.quote or (_is_word(token) and token.lower() not in _CLAUSE_WORDS):
                raise _Decline("alias of a parenthesized join")
            return
        if not self.mysql and self.low[self.i] == "only":
            self.i += 1
        parts = self.dotted(_KEYWORDS, _RESERVED)
        if len(parts) > 3 or t[self.i] in ("(", ".", "*"):
            raise _Decline("table function or inheritance")
        name = parts[-1]
        db = parts[-2] if len(parts) > 1 else ""
        catalog = parts[-3] if len(parts) > 2 else ""
        key = name
        if self.low[self.i] == "as":
            self.i += 1
            key = self.identifier()
        elif t[self.i][0] == self.quote or (
            _is_word(t[self.i]) and self.low[self.i] not in _CLAUSE_WORDS
        ):
            key = self.identifier()
        if t[self.i] == "(":
            raise _Decline("alias column list")
        self.tables.append((catalog, db, name))
        out.append(_From(key, (catalog, db, name), None))

    def group_list(self) -> None:
        while True:
            word = self.low[self.i]
            if word in ("rollup", "cube") and self.t[self.i + 1] == "(" and not self.mysql:
                self.i += 2
                self.expr_list(")")
            elif word == "grouping" and self.low[self.i + 1] == "sets":
                raise _Decline("grouping sets")
            else:
                self.expr()
            if self.t[self.i] != ",":
                break
            self.i += 1
        if self.mysql and self.low[self.i] == "with" and self.low[self.i + 1] == "rollup":
            self.i += 2

    def sort_list(self) -> None:
        while True:
            self.expr()
            if self.low[self.i] in ("asc", "desc"):
                self.i += 1
            if self.low[self.i] == "nulls" and self.low[self.i + 1] in ("first", "last"):
                self.i += 2
            if self.t[self.i] != ",":
                return
            self.i += 1

    # --- expressions -----------------------------------------------------------------------

    def expr_list(self, close: str) -> None:
        """Expressions separated by commas up to ``close`` (consumed)."""
        if self.t[self.i] == close:
            self.i += 1
            return
        self.expr()
        while self.t[self.i] == ",":
            self.i += 1
            self.expr()
        self.expect(close)

    def expr(self, no_in: bool = False) -> bool:
        """One expression; its column references go to ``self.refs``. True when it is a
        single column reference and nothing else."""
        plain = self.operand()
        t = self.t
        between = 0  # BETWEEN read, its AND not yet
        while True:
            token = t[self.i]
            if token in self.binary:
                self.i += 1
                self.operand()
            elif token == "::" and not self.mysql:
                self.i += 1
                self.pg_type()
            elif token == "[" and not self.mysql:
                self.i += 1
                self.expr()
                if t[self.i] == ":":
                    self.i += 1
                    self.expr()
                self.expect("]")
            else:
                word = self.low[self.i]
                if word in self.binary_words:
                    self.i += 1
                    self.operand()
                    if word == "and" and between:
                        between -= 1
                    elif word in ("like", "ilike") and self.low[self.i] == "escape":
                        self.i += 1
                        self.operand()
                elif word == "not" and self.low[self.i + 1] in self.negatable:
                    self.i += 1
                    continue  # the operator itself is read next turn
                elif word == "in" and not no_in:
                    self.i += 1
                    self.expect("(")
                    if self.low[self.i] in ("select", "with", "values"):
                        raise _Decline("IN subquery")
                    self.expr_list(")")
                elif word == "between":
                    self.i += 1
                    if self.low[self.i] == "symmetric" and not self.mysql:
                        self.i += 1
                    self.operand()  # AND and the upper bound: a later turn
                    between += 1
                elif word == "is":
                    self.is_test()
                elif word == "collate":
                    self.i += 1
                    self.collation()
                elif word == "at" and not self.mysql:
                    self.i += 1
                    self.expect_word("time")
                    self.expect_word("zone")
                    self.operand()
                elif word == "similar" and not self.mysql:
                    self.i += 1
                    self.expect_word("to")
                    self.operand()
                else:
                    break
            plain = False
        if between:
            raise _Decline("BETWEEN without AND")
        return plain

    def is_test(self) -> None:
        self.i += 1  # IS
        if self.low[self.i] == "not":
            self.i += 1
        word = self.low[self.i]
        if word in ("null", "true", "false") or (word == "unknown" and not self.mysql):
            self.i += 1
        elif word == "distinct" and self.low[self.i + 1] == "from" and not self.mysql:
            self.i += 2
            self.operand()
        else:
            raise _Decline("IS")

    def collation(self) -> None:
        raw = self.split(self.t[self.i])
        if raw is None or len(raw) > (1 if self.mysql else 2):
            raise _Decline("collation")
        for part in raw:
            if part[0] != self.quote and part.lower() in _KEYWORDS:
                raise _Decline("collation")
            self.fold(part)
        self.i += 1

    def operand(self) -> bool:
        """One operand with its prefix operators; True when it is a column reference."""
        t = self.t
        token = t[self.i]
        first = token[0]
        if first == "(":
            self.i += 1
            if self.low[self.i] in ("select", "with", "values"):
                raise _Decline("subquery")
            self.expr()
            while t[self.i] == ",":
                self.i += 1
                self.expr()
            self.expect(")")
            if t[self.i] == ".":
                raise _Decline("field of a composite")
            return False
        if first == "'":
            self.i += 1
            return False
        if first.isdigit() or (first == "." and len(token) > 1):
            self.i += 1
            return False
        if token in ("-", "+", "~"):
            self.i += 1
            self.operand()
            return False
        if first == self.quote:
            return self.chain()
        if first == '"':  # a MySQL string
            self.i += 1
            return False
        if not (first.isalpha() or first == "_"):
            raise _Decline(token)
        if "." in token or self.quote in token:  # a dotted name
            head = token.split(".", 1)[0].lower()
            if head in _NOT_ALIAS:
                raise _Decline(head)
            return self.chain()
        word = token.lower()
        after = t[self.i + 1]
        if word == "not":
            self.i += 1
            self.operand()
            return False
        if word == "case":
            self.case()
            return False
        if word == "interval" and self.mysql:
            self.i += 1
            self.operand()
            if self.low[self.i] not in _INTERVAL_UNITS:
                raise _Decline("interval unit")
            self.i += 1
            return False
        if after == "(":
            return self.chain()
        if after[0] == "'":  # a typed literal, or a MySQL character set introducer
            if (
                word in ("date", "time", "timestamp")
                or (word == "interval" and not self.mysql)
                or (self.mysql and word[0] == "_")
            ):
                self.i += 2
                return False
            raise _Decline("prefixed string")
        if word in ("null", "true", "false") or word in self.no_paren:
            self.i += 1
            return False
        if word == "array" and after == "[" and not self.mysql:
            self.i += 2
            self.expr_list("]")
            return False
        if word in _KEYWORDS or self.mysql:  # MySQL prints every column name quoted
            raise _Decline(word)
        return self.chain()

    def chain(self) -> bool:
        """A dotted name: a column reference, or a function call when ``(`` follows."""
        parts = self.dotted(_NOTHING, _NOT_ALIAS)
        if len(parts) > 4:
            raise _Decline("name")
        t = self.t
        after = t[self.i]
        if after == "(":
            function = parts[-1].lower()
            if function in _RESERVED and function not in self.keyword_functions:
                raise _Decline(function)
            self.i += 1
            self.call(function)
            return False
        if after == ".":  # t.* in an expression, or a name with spaces around its dots
            raise _Decline("star or spaced name")
        self.refs.append(tuple(parts))
        return True

    def case(self) -> None:
        self.i += 1  # CASE
        if self.low[self.i] != "when":
            self.expr()
        seen = False
        while self.low[self.i] == "when":
            self.i += 1
            self.expr()
            self.expect_word("then")
            self.expr()
            seen = True
        if not seen:
            raise _Decline("CASE")
        if self.low[self.i] == "else":
            self.i += 1
            self.expr()
        self.expect_word("end")

    def call(self, name: str) -> None:
        """A function's arguments (after ``(``), then FILTER / WITHIN GROUP / OVER.
        ``name``: the function's name (its last part) in lower case."""
        t = self.t
        if name in _DECLINED_FUNCTIONS or name.startswith("xml"):
            raise _Decline(name)
        if name == "cast":
            self.expr()
            self.expect_word("as")
            if self.mysql:
                self.mysql_type()
            else:
                self.pg_type()
            self.expect(")")
            return
        if name == "extract":
            if self.low[self.i] not in self.fields:
                raise _Decline("EXTRACT field")
            self.i += 1
            self.expect_word("from")
            self.expr()
            self.expect(")")
            return
        if name in _KEYWORD_ARGUMENTS:
            self.keyword_arguments(name)
            return
        if name in ("timestampdiff", "timestampadd") and self.mysql:
            if self.low[self.i] not in _INTERVAL_UNITS or t[self.i + 1] != ",":
                raise _Decline("unit")
            self.i += 2
        if name == "date_part" and not self.mysql:
            # sqlglot keeps only a constant field: a column there would vanish
            if t[self.i][0] != "'":
                raise _Decline("date_part field")
            self.i += 1
            if t[self.i] == "::":
                self.i += 1
                self.pg_type()
            if t[self.i] != ",":
                raise _Decline("date_part")
            self.i += 1
        token = t[self.i]
        if token == ")":
            self.i += 1
        elif token == "*" and t[self.i + 1] == ")" and name == "count":
            self.i += 2
        else:
            if self.low[self.i] == "distinct" and name in _AGGREGATES:
                self.i += 1
            self.expr()
            while t[self.i] == ",":
                if name == "json_agg":  # sqlglot's own grammar: one argument
                    raise _Decline(name)
                self.i += 1
                self.expr()
            if (
                self.low[self.i] == "order"
                and self.low[self.i + 1] == "by"
                and name in _ORDERED_AGGREGATES
            ):
                self.i += 2
                self.sort_list()
            if self.mysql and name == "group_concat" and self.low[self.i] == "separator":
                self.i += 1
                if t[self.i][0] != "'":
                    raise _Decline("separator")
                self.i += 1
            self.expect(")")
        if self.low[self.i] == "within" and not self.mysql:
            self.i += 1
            self.expect_word("group")
            self.expect("(")
            self.expect_word("order")
            self.expect_word("by")
            self.sort_list()
            self.expect(")")
        if self.low[self.i] == "filter" and t[self.i + 1] == "(" and not self.mysql:
            self.i += 2
            self.expect_word("where")
            self.expr()
            self.expect(")")
        if self.low[self.i] == "over":
            self.i += 1
            self.expect("(")
            self.window()

    def keyword_arguments(self, name: str) -> None:
        """SUBSTRING(x FROM a FOR b), OVERLAY(x PLACING y FROM a FOR b), TRIM(BOTH y FROM
        x), POSITION(y IN x), or the plain comma forms sqlglot reads for them."""
        words, most = _KEYWORD_ARGUMENTS[name]
        comma = True  # a comma may still come
        if name == "trim" and self.low[self.i] in ("both", "leading", "trailing"):
            self.i += 1
            comma = False
            if self.low[self.i] == "from":
                self.i += 1
        self.expr(no_in=name == "position")
        count, last = 1, -1
        while True:
            token = self.t[self.i]
            if token == ")":
                self.i += 1
                return
            if token == ",":
                if not comma or count >= most:
                    raise _Decline(name)
                count += 1
            else:
                word = self.low[self.i]
                if word not in words or words.index(word) <= last:
                    raise _Decline(name)
                last = words.index(word)
                comma = False
            self.i += 1
            self.expr()

    def window(self) -> None:
        """A window specification after ``OVER (``, up to its ``)``."""
        if self.low[self.i] == "partition":
            self.i += 1
            self.expect_word("by")
            self.expr()
            while self.t[self.i] == ",":
                self.i += 1
                self.expr()
        if self.low[self.i] == "order":
            self.i += 1
            self.expect_word("by")
            self.sort_list()
        if self.low[self.i] in ("rows", "range", "groups"):
            self.i += 1
            if self.low[self.i] == "between":
                self.i += 1
                self.frame_bound()
                self.expect_word("and")
            self.frame_bound()
        self.expect(")")

    def frame_bound(self) -> None:
        word = self.low[self.i]
        if word == "unbounded":
            self.i += 1
            if self.low[self.i] not in ("preceding", "following"):
                raise _Decline("frame")
            self.i += 1
        elif word == "current":
            self.i += 1
            self.expect_word("row")
        else:
            self.expr()
            if self.low[self.i] not in ("preceding", "following"):
                raise _Decline("frame")
            self.i += 1

    # --- types -----------------------------------------------------------------------------

    def pg_type(self) -> None:
        """A PostgreSQL type after ``::`` or in CAST: its words are no column."""
        t = self.t
        token = t[self.i]
        first = token[0]
        raw = self.split(token)
        if raw is not None and (len(raw) > 1 or first == '"'):  # "char", schema.type
            if len(raw) > 2 or any(p[0] != '"' and p.lower() in _RESERVED for p in raw):
                raise _Decline("type")
            self.i += 1
            word = ""
        elif (first.isalpha() or first == "_") and (
            token.lower() not in _RESERVED or token.lower() == "interval"
        ):
            word = token.lower()
            self.i += 1
            tails = _PG_TYPE_TAILS.get(word)
            if tails is not None and self.low[self.i] in tails:
                self.i += 1
            elif word == "double":
                raise _Decline("double")
        else:
            raise _Decline("type")
        if t[self.i] == "(":
            self.i += 1
            self.type_numbers()
        if word in ("timestamp", "time") and self.low[self.i] in ("with", "without"):
            self.i += 1
            self.expect_word("time")
            self.expect_word("zone")
        while t[self.i] == "[":
            self.i += 1
            if t[self.i][0].isdigit():
                self.i += 1
            self.expect("]")
        if word == "interval" and self.low[self.i] in _INTERVAL_FIELDS:  # INTERVAL YEAR TO MONTH
            raise _Decline("interval fields")

    def mysql_type(self) -> None:
        word = self.low[self.i]
        if word not in _MYSQL_CAST_TYPES:
            raise _Decline("cast type")
        self.i += 1
        if word in ("signed", "unsigned") and self.low[self.i] in ("integer", "int"):
            self.i += 1
        if self.t[self.i] == "(":
            self.i += 1
            self.type_numbers()
        if word in ("char", "nchar") and self.low[self.i] == "charset":
            self.i += 1
            if not _is_word(self.t[self.i]) or self.low[self.i] in _KEYWORDS:
                raise _Decline("charset")
            self.i += 1

    def type_numbers(self) -> None:
        """``n`` or ``p, s`` and the closing parenthesis of a type's modifiers."""
        t = self.t
        while True:
            if not t[self.i][0].isdigit():
                raise _Decline("type modifier")
            self.i += 1
            if t[self.i] == ")":
                self.i += 1
                return
            self.expect(",")


class _Resolver:
    """What ``direct._Reader`` does, on the reader's own tree."""

    def __init__(
        self, index: RelationIndex, catalog: str | None, db: str, ctes: frozenset[str]
    ) -> None:
        self.index = index
        self.catalog = catalog
        self.db = db
        self.ctes = ctes
        self.upstream: set[str] = set()  # the relations found

    def query(self, query: _Query, env: dict[str, _Columns]) -> _Columns:
        if query.ctes:
            env = dict(env)
            local: set[str] = set()
            for name, sub in query.ctes:
                if name in local:
                    raise _Decline("duplicate CTE")
                local.add(name)
                env[name] = self.query(sub, env)
        out: _Columns | None = None
        for branch in query.branches:
            if isinstance(branch, _Select):
                columns = self.select(branch, env)
            else:
                columns = self.query(branch, env)
            if out is None:
                out = columns
            elif len(out) != len(columns):
                raise _Decline("set operation branches differ in width")
            else:
                out = [(name, a | b) for (name, a), (_, b) in zip(out, columns, strict=True)]
        assert out is not None
        return out

    def select(self, select: _Select, env: dict[str, _Columns]) -> _Columns:
        sources: dict[str, _Source] = {}
        for item in select.sources:
            found: _Source | None
            if item.table is not None:
                catalog, db, name = item.table
                if not db and not catalog and name in env:
                    found = env[name]
                elif not db and name in self.ctes:
                    raise _Decline("a CTE out of scope")
                else:
                    found = self.index.lookup(catalog, db, name, self.catalog, self.db)
                    if found is None:
                        raise _Decline("unknown relation")
                    self.upstream.add(found.fqn)
            else:
                assert item.query is not None
                found = self.query(item.query, env)
            if item.key in sources:
                raise _Decline("duplicate alias")
            sources[item.key] = found
        out: _Columns = []
        for entry in select.items:
            if entry.star is not None:
                out += self.star(entry.star, sources)
                continue
            edges: set[str] = set()
            for ref in entry.refs:
                edges |= self.column(ref, sources)
            out.append((entry.name, frozenset(edges)))
        return out

    def column(self, ref: tuple[str, ...], sources: dict[str, _Source]) -> set[str]:
        size = len(ref)
        if size > 1:
            source = sources.get(ref[-2])
        elif len(sources) == 1:
            source = next(iter(sources.values()))
        else:
            raise _Decline("unqualified column over several sources")
        if source is None:
            raise _Decline("unknown table alias")
        f = self.index.f
        if size > 2 and (  # MySQL prints `db`.`t`.`c`
            not isinstance(source, Relation)
            or f(ref[-3]) != f(source.db)
            or (size > 3 and ref[0] and f(ref[0]) != f(source.catalog or ""))
        ):
            raise _Decline("column qualified by another relation")
        name = ref[-1]
        if isinstance(source, Relation):
            column = self.index.columns[source.fqn].get(f(name))
            if column is None:
                raise _Decline("unknown column")
            return {f"{source.fqn}.{quote_name(column)}"}
        matches = [edges for output, edges in source if output == name]
        if len(matches) != 1:
            raise _Decline("column not (or twice) in a CTE or derived table")
        return set(matches[0])

    def star(self, qualifier: tuple[str, ...], sources: dict[str, _Source]) -> _Columns:
        if len(sources) != 1 or (qualifier and qualifier[0] not in sources):
            raise _Decline("star over several sources")
        source = next(iter(sources.values()))
        if isinstance(source, Relation):
            if not source.columns:
                raise _Decline("star over a relation without known columns")
            f = self.index.f
            return [(f(c), frozenset({f"{source.fqn}.{quote_name(c)}"})) for c in source.columns]
        if any(name is None for name, _ in source):
            raise _Decline("star over unnamed columns")
        return list(source)
