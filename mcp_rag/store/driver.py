"""Statements on the driver's own psycopg connection, inside the SQLAlchemy
transaction, with pgvector's binary dumpers: what the search arms and the
chunks' COPY need, and SQLAlchemy's `text()` would make slower."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from pgvector import SparseVector
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import psycopg


def fetch(conn: Connection, sql: str, params: dict) -> tuple[list[str], list[tuple]]:
    """Run one of a search's statements on `conn`'s own psycopg connection, inside its
    transaction: column names and rows. Placeholders are psycopg's (`%(name)s`).

    Search's statements bypass SQLAlchemy's `text()`: compiling the statement on
    every call and pgvector's `Vector` type formatting the query vector as text
    would cost more than the vector arm's own execution. Here vectors are sent in
    pgvector's binary format."""
    with cursor(conn, sql) as cur:
        cur.execute(sql, params)  # always a SELECT
        return [d.name for d in cur.description], cur.fetchall()


@contextmanager
def cursor(conn: Connection, sql: str) -> Iterator[Any]:
    """A psycopg cursor on `conn`'s connection, inside its transaction, with pgvector's
    binary dumpers. psycopg's errors are raised as SQLAlchemy's, as `conn.execute`
    would, so the service maps them the same way (bad value → Invalid, deadlock → retried)."""
    import psycopg
    from sqlalchemy.exc import DBAPIError

    raw = cast("psycopg.Connection[Any]", conn.connection.driver_connection)  # the engine's driver is psycopg
    try:
        _register_vector_types(raw, conn.connection.info)
        with raw.cursor() as cur:
            yield cur
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


def _register_vector_types(connection: psycopg.Connection[Any], connection_info: dict[str, Any]) -> None:
    """pgvector's dumpers (numpy arrays → vector, SparseVector → sparsevec; binary
    when psycopg may choose), registered once per pooled connection. Only dumpers:
    values SQLAlchemy binds through its `Vector` type are already text, and
    vectors read back keep the loaders SQLAlchemy expects. Registering them on
    each cursor instead would add catalog lookups to every statement."""
    if connection_info.get("pgvector_dumpers"):
        return
    from pgvector.psycopg.sparsevec import SparseVectorBinaryDumper, SparseVectorDumper
    from pgvector.psycopg.vector import VectorBinaryDumper, VectorDumper
    from psycopg.types import TypeInfo

    for name, python_type, dumpers in (
        ("vector", "numpy.ndarray", (VectorDumper, VectorBinaryDumper)),
        ("sparsevec", SparseVector, (SparseVectorDumper, SparseVectorBinaryDumper)),
    ):
        info = TypeInfo.fetch(connection, name)
        if info is None:
            raise RuntimeError(f"the {name} type is missing: the pgvector extension is not installed")
        info.register(connection)  # COPY's set_types finds the type by name
        for dumper in dumpers:  # the binary one last: psycopg's default choice
            connection.adapters.register_dumper(python_type, type("", (dumper,), {"oid": info.oid}))
    connection_info["pgvector_dumpers"] = True
