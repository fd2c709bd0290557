"""The real server's answer to a failed query: `{"message": "Datafusion error: ..."}` with 400 or 500.

Restate answers 400 for DataFusion's plain SQL, planning and schema errors and 500 for anything
else, including the planning errors DataFusion wraps with a diagnostic (an unknown table in FROM,
an unknown function, a bad coercion, an unknown column where the SQL planner resolves it: select
list, WHERE, JOIN ON, LIMIT). Python's DataFusion shows only the text, so the wrapped ones are
recognised by their message, and for an unknown column by the clause that names it (observed on
restate-server 1.7.12).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class QueryError(Exception):
    """A query that failed: the HTTP status and the `message` of the JSON error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_DIAGNOSED_PLANNING = re.compile(
    r"Error during planning: (?:table '[^']*' not found|Invalid function|Cannot coerce"
    r"|Column in SELECT must be in GROUP BY|\w+ queries have different number of columns"
    r"|Unary operator)"  # the real server's DataFusion fails those in an analyzer rule (a 500 there too)
)
_DIAGNOSED_PARSING = 'SQL error: ParserError("Expected: end of statement'
_UNKNOWN_FIELD = re.compile(r"Schema error: No field named (.+?)\.(?= Valid fields are|$)")
# DataFusion 55 suggests a name and breaks the line; the real server's DataFusion does neither.
_SUGGESTION = re.compile(r"(No field named .+?\.)(?: Did you mean '[^']*'\?)?\nValid fields are")
# Where the planner resolves a column without a diagnostic (it reports those with a plain 400).
_PLAIN_CLAUSES = frozenset({"order by", "group by", "having", "using", "distinct on"})


def datafusion_error(exc: Exception, sql: str) -> QueryError:
    """The real server's status and message for a DataFusion error raised by `sql`."""
    text = str(exc).removeprefix("DataFusion error: ")
    text = _SUGGESTION.sub(r"\1 Valid fields are", text)
    return QueryError(_status(text, sql), f"Datafusion error: {text}")


def _status(text: str, sql: str) -> int:
    if text.startswith("SQL error:"):
        return 500 if text.startswith(_DIAGNOSED_PARSING) else 400
    if text.startswith("Error during planning:"):
        if _DIAGNOSED_PLANNING.match(text):
            # the target of an INSERT is looked up without a diagnostic
            return 400 if "not found" in text and _first_word(sql) == "INSERT" else 500
        return 400
    if text.startswith("Schema error:"):
        unknown = _UNKNOWN_FIELD.match(text)
        if unknown is not None:
            return 400 if _clauses_of(sql, unknown.group(1)) <= _PLAIN_CLAUSES else 500
        return 500 if text.startswith("Schema error: Ambiguous reference") else 400
    return 500


# --- which clauses name a column --------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s+|--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*|[0-9.]+|.""", re.DOTALL
)
_SUBQUERY_STARTS = frozenset({"SELECT", "WITH", "VALUES"})
_CLAUSE_WORDS = {
    "SELECT": "select", "FROM": "from", "JOIN": "from", "ON": "on", "WHERE": "where", "GROUP": "group by",
    "HAVING": "having", "ORDER": "order by", "LIMIT": "limit", "OFFSET": "limit", "USING": "using",
    "UNION": "set", "INTERSECT": "set", "EXCEPT": "set",
}  # fmt: skip


@dataclass
class _Frame:
    """A query (its clause words switch the clause) or a parenthesised expression (it keeps its clause)."""

    query: bool
    clause: str = ""


def _tokens(sql: str) -> list[str]:
    return [t for t in _TOKEN.findall(sql) if not (t.isspace() or t.startswith(("--", "/*")))]


def _first_word(sql: str) -> str:
    tokens = _tokens(sql)
    return tokens[0].upper() if tokens else ""


def _column_name(shown: str) -> tuple[str, bool]:
    """The last part of a column as DataFusion shows it (`s.nope`, `"Nope"`), and whether it was quoted."""
    if shown.endswith('"'):
        return shown[shown.rindex('"', 0, -1) + 1 : -1], True
    return shown.rsplit(".", 1)[-1], False


def _clauses_of(sql: str, shown: str) -> set[str]:
    """The clauses (`select`, `order by`, ...) in which the column `shown` appears in `sql`."""
    name, quoted = _column_name(shown)
    tokens = _tokens(sql)
    frames = [_Frame(query=True)]
    found: set[str] = set()
    previous = ""
    for index, token in enumerate(tokens):
        word = token.upper()
        frame = frames[-1]
        if token == "(":
            following = tokens[index + 1].upper() if index + 1 < len(tokens) else ""
            frames.append(_Frame(True) if following in _SUBQUERY_STARTS else _Frame(False, frame.clause))
        elif token == ")":
            if len(frames) > 1:
                frames.pop()
        elif frame.query and word in _CLAUSE_WORDS:
            frame.clause = "distinct on" if word == "ON" and previous == "DISTINCT" else _CLAUSE_WORDS[word]
        elif _names(token, name, quoted):
            found.add(frame.clause)
        previous = word
    return found


def _names(token: str, name: str, quoted: bool) -> bool:
    if token.startswith('"'):
        return token[1:-1].replace('""', '"') == name
    return not quoted and token.lower() == name
