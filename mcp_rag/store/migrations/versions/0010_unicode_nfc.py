"""Ids, authors and titles in Unicode NFC; BM25 terms of the NFC, case-folded text.

The doors now store ids, authors and titles in NFC ("é" as one code point, not
"e" plus a combining accent) and look ids up in NFC; search terms are taken
from the NFC text case-folded ("Straße" and "STRASSE" are one term). Rows
written before keep working only once they are in the same form, so:

- conversations (external_id, title, participants), messages (external_id,
  author) and chunks (authors, message_ids) are rewritten in NFC. An id whose
  NFC form is taken already (the same id stored in both forms) keeps its old
  form: that conversation stays reachable by its uuid.
- chunks whose text is not NFC or holds a character that case-folds unlike it
  lowercases get their terms, length and BM25 vector again: deleted and
  inserted, so the statistics and chunk_terms triggers stay exact.

Windows of the window arm (chunk_windows) get their authors in NFC; their
terms are rebuilt by `mcp-rag reindex`, as for any window made before.

Every value changed is kept in unicode_originals, and downgrade puts it back.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import json
import sys

from alembic import op
from sqlalchemy import text

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SCALARS = [  # table, column, unique together with (for ids)
    ("conversations", "external_id", "namespace"),
    ("conversations", "title", None),
    ("messages", "external_id", "conversation_id"),
    ("messages", "author", None),
]
ARRAYS = [
    ("conversations", "participants"),
    ("chunk_windows", "authors"),
    ("chunks", "authors"),
    ("chunks", "message_ids"),
]
CHUNK_LEXICAL = ("terms", "n_terms", "bm25")


def _folds_unlike_lower() -> str:
    """A regex class of the characters whose case fold differs from their lowercase (ß, ς, ﬁ, ...)."""
    chars = (chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    return "[" + "".join(c for c in chars if c.casefold() != c.lower()).replace("]", "\\]") + "]"


def upgrade() -> None:
    conn = op.get_bind()
    op.execute(
        "CREATE TABLE unicode_originals (tbl text NOT NULL, row_id text NOT NULL, col text NOT NULL, "
        "value jsonb, PRIMARY KEY (tbl, row_id, col))"
    )
    _rewrite_chunks(conn)  # first: its rows are deleted and inserted, with the other columns as they are
    for table, column, unique_with in SCALARS:
        taken = (
            f"AND NOT EXISTS (SELECT 1 FROM {table} o WHERE o.{unique_with} = t.{unique_with} "
            f"AND o.{column} = normalize(t.{column}, NFC))"
            if unique_with
            else ""
        )
        pick = (
            f"AND t.id IN (SELECT DISTINCT ON ({unique_with}, normalize({column}, NFC)) id FROM {table} "
            f"WHERE NOT {column} IS NFC NORMALIZED ORDER BY {unique_with}, normalize({column}, NFC), id)"
            if unique_with
            else ""
        )
        where = f"t.{column} IS NOT NULL AND NOT t.{column} IS NFC NORMALIZED {taken} {pick}"
        conn.execute(
            text(
                f"INSERT INTO unicode_originals SELECT '{table}', t.id::text, '{column}', to_jsonb(t.{column}) "
                f"FROM {table} t WHERE {where}"
            )
        )
        conn.execute(text(f"UPDATE {table} t SET {column} = normalize(t.{column}, NFC) WHERE {where}"))
    for table, column in ARRAYS:
        if table == "chunks":
            continue  # rewritten with the chunks above
        where = f"EXISTS (SELECT 1 FROM unnest(t.{column}) v WHERE NOT v IS NFC NORMALIZED)"
        conn.execute(
            text(
                f"INSERT INTO unicode_originals SELECT '{table}', t.id::text, '{column}', to_jsonb(t.{column}) "
                f"FROM {table} t WHERE {where}"
            )
        )
        conn.execute(
            text(
                f"UPDATE {table} t SET {column} = ARRAY(SELECT normalize(v, NFC) FROM unnest(t.{column}) "
                f"WITH ORDINALITY AS u(v, n) ORDER BY n) WHERE {where}"
            )
        )


def _rewrite_chunks(conn) -> None:
    from mcp_rag.search import bm25, terms

    arrays = " OR ".join(
        f"EXISTS (SELECT 1 FROM unnest(c.{col}) v WHERE NOT v IS NFC NORMALIZED)" for t, col in ARRAYS if t == "chunks"
    )
    conn.execute(
        text(
            "CREATE TEMP TABLE redo AS SELECT * FROM chunks c "
            f"WHERE NOT c.text IS NFC NORMALIZED OR c.text ~ :special OR {arrays}"
        ),
        {"special": _folds_unlike_lower()},
    )
    rows = conn.execute(text("SELECT id, text, terms, n_terms, bm25::text, authors, message_ids FROM redo")).all()
    if not rows:
        conn.execute(text("DROP TABLE redo"))
        return
    stats = conn.execute(text("SELECT coalesce(sum(chunks), 0), coalesce(sum(terms), 0) FROM corpus_stats")).one()
    avgdl = float(stats[1]) / max(int(stats[0]), 1)
    for row in rows:
        original = {"terms": row[2], "n_terms": row[3], "bm25": row[4], "authors": row[5], "message_ids": row[6]}
        conn.execute(
            text("INSERT INTO unicode_originals VALUES ('chunks', :id, 'row', CAST(:value AS jsonb))"),
            {"id": str(row[0]), "value": json.dumps(original)},
        )
        counts = terms.term_counts(row[1])
        weights = bm25.document_weights(counts, avgdl)
        conn.execute(
            text(
                "UPDATE redo SET terms = :terms, n_terms = :n, bm25 = CAST(:bm25 AS sparsevec), "
                "authors = ARRAY(SELECT normalize(v, NFC) FROM unnest(authors) WITH ORDINALITY u(v, n) ORDER BY n), "
                "message_ids = ARRAY(SELECT normalize(v, NFC) FROM unnest(message_ids) WITH ORDINALITY u(v, n) "
                "ORDER BY n) WHERE id = :id"
            ),
            {"id": row[0], "terms": sorted(counts), "n": sum(counts.values()), "bm25": _sparse(weights)},
        )
    _swap_chunks(conn)


def _sparse(weights: dict[int, float]) -> str:
    from mcp_rag.search import terms

    return "{" + ",".join(f"{t + 1}:{w}" for t, w in sorted(weights.items())) + "}/" + str(terms.SPACE)


def _swap_chunks(conn) -> None:
    """Replace the chunks held in the temp table `redo` by its rows (the triggers see a delete and an insert)."""
    conn.execute(text("DELETE FROM chunks WHERE id IN (SELECT id FROM redo)"))
    conn.execute(text("INSERT INTO chunks SELECT * FROM redo"))
    conn.execute(text("DROP TABLE redo"))


def downgrade() -> None:
    conn = op.get_bind()
    for table, column, _ in SCALARS:
        conn.execute(
            text(
                f"UPDATE {table} t SET {column} = o.value #>> '{{}}' FROM unicode_originals o "
                f"WHERE o.tbl = '{table}' AND o.col = '{column}' AND o.row_id = t.id::text"
            )
        )
    for table, column in ARRAYS:
        if table == "chunks":
            continue  # restored with the chunks below
        conn.execute(
            text(
                f"UPDATE {table} t SET {column} = ARRAY(SELECT jsonb_array_elements_text(o.value)) "
                f"FROM unicode_originals o WHERE o.tbl = '{table}' AND o.col = '{column}' AND o.row_id = t.id::text"
            )
        )
    conn.execute(
        text(
            "CREATE TEMP TABLE redo AS SELECT c.* FROM chunks c "
            "JOIN unicode_originals o ON o.tbl = 'chunks' AND o.col = 'row' AND o.row_id = c.id::text"
        )
    )
    conn.execute(
        text(
            "UPDATE redo r SET terms = ARRAY(SELECT jsonb_array_elements_text(o.value -> 'terms'))::integer[], "
            "n_terms = (o.value ->> 'n_terms')::integer, bm25 = CAST(o.value ->> 'bm25' AS sparsevec), "
            "authors = ARRAY(SELECT jsonb_array_elements_text(o.value -> 'authors')), "
            "message_ids = ARRAY(SELECT jsonb_array_elements_text(o.value -> 'message_ids')) "
            "FROM unicode_originals o WHERE o.tbl = 'chunks' AND o.col = 'row' AND o.row_id = r.id::text"
        )
    )
    _swap_chunks(conn)
    op.execute("DROP TABLE unicode_originals")
