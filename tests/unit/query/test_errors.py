"""restate.admin.query.errors: the status and message of failed queries, as restate-server 1.7.12 answered them.

Every (query, status) pair below was sent to the real server; its DataFusion is older than ours, so
where messages differ only the status is compared (the test_sql integration test compares both).
"""

from __future__ import annotations

import pytest

from restate.admin.query.engine import QueryError, plan, run
from restate.admin.query.errors import datafusion_error


def status_of(sql: str) -> QueryError:
    """The error of planning `sql` (or of running it over empty tables, for an execution error)."""
    with pytest.raises(QueryError) as caught:
        plan(sql)
        run(sql, {})
    return caught.value


@pytest.mark.parametrize(
    ("sql", "status"),
    [
        ("", 400),  # No SQL statements were provided
        ("SELEC 1", 400),
        ("SELECT 1 +", 400),
        ("SELECT 'abc", 400),  # TokenizerError
        ("SELECT 1 2", 500),  # "Expected: end of statement" carries a diagnostic
        ("SELECT 1 LIMIT 1 LIMIT 2", 500),
        ("SELECT * FROM nope", 500),
        ("WITH a AS (SELECT 1) SELECT * FROM b", 500),
        ("SELECT * FROM nope()", 400),  # a table function is looked up without a diagnostic
        ("INSERT INTO nope VALUES (1)", 400),  # so is the target of an INSERT
        ("INSERT INTO state VALUES (1)", 400),
        ("INSERT INTO state SELECT * FROM state", 400),
        ("DELETE FROM state", 400),
        ("CREATE TABLE x AS SELECT 1", 400),
        ("COPY state TO 'x.csv'", 400),
        ("SELECT nope()", 500),
        ("SELECT abs()", 400),
        ("SELECT lower(1, 2)", 400),
        ("SELECT sum(id) FROM sys_invocation", 400),
        ("SELECT 'a' + 1", 500),
        ("SELECT -'a'", 500),
        ("SELECT 1 UNION SELECT 1, 2", 500),
        ("SELECT 1 EXCEPT SELECT 1, 2", 500),
        ("SELECT id FROM sys_invocation GROUP BY status", 500),
        ("SELECT 1 AS a, 2 AS a", 400),
        ("SELECT id FROM sys_invocation WHERE id", 400),
        ("SELECT id FROM sys_invocation ORDER BY 0", 400),
        ("SELECT * FROM sys_invocation, sys_invocation", 400),  # duplicate qualified field
        ("SELECT id FROM sys_invocation t1 JOIN sys_invocation t2 ON t1.id = t2.id", 500),  # ambiguous
        ("SELECT 1 LIMIT -1", 500),
        ("SELECT 1/0", 500),
        ("SELECT 1; SELECT 2", 500),
        ("SET x = 1", 500),
        ("SELECT CAST('x' AS INT)", 500),
    ],
)
def test_status(sql: str, status: int) -> None:
    assert status_of(sql).status == status


@pytest.mark.parametrize(
    ("sql", "status"),
    [
        # where the SQL planner resolves a column (select list, WHERE, JOIN ON, LIMIT): a 500
        ("SELECT nope FROM sys_invocation", 500),
        ("SELECT NOPE FROM sys_invocation", 500),
        ('SELECT "Nope" FROM sys_invocation', 500),
        ("SELECT sys_invocation.nope FROM sys_invocation", 500),
        ("SELECT * FROM sys_invocation WHERE nope = 1", 500),
        ("SELECT lower(nope) FROM sys_invocation", 500),
        ("SELECT first_value(id ORDER BY nope) FROM sys_invocation", 500),
        ("SELECT count(*) OVER (ORDER BY nope) FROM sys_invocation", 500),
        ("SELECT * FROM state s JOIN sys_invocation i ON s.nope = i.id", 500),
        ("SELECT * FROM (SELECT id FROM sys_invocation) WHERE nope = 1", 500),
        ("SELECT id FROM sys_invocation WHERE id IN (SELECT nope FROM state)", 500),
        ("SELECT nope FROM sys_invocation ORDER BY nope", 500),
        ("SELECT id FROM sys_invocation LIMIT nope", 500),
        # where the plan builder resolves it (ORDER BY, GROUP BY, HAVING, USING, DISTINCT ON): a 400
        ("SELECT id FROM sys_invocation ORDER BY nope", 400),
        ('SELECT id FROM sys_invocation ORDER BY "Nope"', 400),
        ("SELECT id FROM sys_invocation ORDER BY lower(nope)", 400),
        ("SELECT status, count(*) FROM sys_invocation GROUP BY nope", 400),
        ("SELECT COUNT(*) FROM sys_invocation HAVING nope > 1", 400),
        ("SELECT * FROM sys_invocation i JOIN state s USING (nope)", 400),
        ("SELECT DISTINCT ON (nope) id FROM sys_invocation", 400),
        ("SELECT id FROM sys_invocation i JOIN state s ON i.id = s.key ORDER BY s.nope", 400),
        ("SELECT id FROM sys_invocation UNION SELECT key FROM state ORDER BY nope", 400),
    ],
)
def test_unknown_column_status_depends_on_the_clause(sql: str, status: int) -> None:
    error = status_of(sql)
    assert error.status == status and error.message.startswith("Datafusion error: Schema error: No field named")


def test_messages_read_as_the_real_servers() -> None:
    """No name suggestion and no line break before the valid fields (the real server's DataFusion has neither)."""
    error = status_of("SELECT nope FROM sys_invocation")
    assert error.message.startswith(
        "Datafusion error: Schema error: No field named nope. Valid fields are sys_invocation.id"
    )
    assert "Did you mean" not in error.message and "\n" not in error.message
    assert status_of("SELECT 1 LIMIT -1").message == (
        "Datafusion error: Optimizer rule 'eliminate_limit' failed\ncaused by\n"
        "Error during planning: LIMIT must be >= 0, '-1' was provided"
    )
    assert status_of("").message == (
        "Datafusion error: Error during planning: No SQL statements were provided in the query string"
    )
    assert status_of("SELECT 1/0").message == "Datafusion error: Arrow error: Divide by zero error"


def test_plain_exception_text() -> None:
    error = datafusion_error(ValueError("DataFusion error: Execution error: boom"), "SELECT 1")
    assert (error.status, error.message) == (500, "Datafusion error: Execution error: boom")
