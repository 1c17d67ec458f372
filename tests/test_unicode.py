"""One spelling per name: ids, authors and titles are stored in NFC, search terms are NFC and
case-folded, and the conversation list's `q` matches literally (LIKE wildcards escaped)."""

from __future__ import annotations

import unicodedata

from builders import conversation_row
from sqlalchemy import text

from mcp_rag.models import ConversationIn, MessageIn, SearchRequest
from mcp_rag.search import terms
from mcp_rag.store import arms, db


def nfd(s: str) -> str:
    return unicodedata.normalize("NFD", s)


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


CAFE = "Café Müller"  # NFC in this file
assert nfd(CAFE) != CAFE


def ingest(service, cid: str, author: str, content: str, title: str | None = None):
    return service.ingest(
        ConversationIn(id=cid, title=title, messages=[MessageIn(id=cid + "-1", author=author, content=content)])
    )


def test_nfc_and_nfd_spellings_of_an_id_are_one_conversation(service):
    first = ingest(service, nfd("réunion-1"), nfd("Zoë"), "the budget meeting moved", title=nfd(CAFE))
    again = ingest(service, "réunion-1", "Zoë", "the budget meeting moved")

    assert again.id == first.id and first.external_id == "réunion-1"
    assert again.created is False and again.messages_added == 0
    summary = service.get_conversation(nfd("réunion-1"))
    assert summary.external_id == "réunion-1" and summary.title == CAFE
    assert summary.messages[0].author == "Zoë"
    assert summary.messages[0].id == "réunion-1-1"


def test_message_text_is_stored_as_given(service):
    ingest(service, "c", "Ann", nfd("déjà vu"))
    assert service.get_conversation("c").messages[0].content == nfd("déjà vu")


def test_an_nfd_query_finds_nfc_text_and_the_other_way_round(service):
    ingest(service, "nfc", "Ann", "we met at the Café Müller near the station")
    ingest(service, "nfd", "Ben", nfd("the crème brûlée at Bäckerei Schütz was gone"))

    def found(query: str) -> set[str]:
        hits = service.search(SearchRequest(query=query, top_k=5)).hits
        return {service.get_conversation(str(h.conversation_id)).external_id for h in hits[:1]}

    assert found(nfd("Müller café")) == {"nfc"}
    assert found("Schütz brûlée") == {"nfd"}
    assert found("SCHÜTZ") == {"nfd"}
    with service.engine.begin() as conn:  # the BM25 arm itself: every query term is a stored term
        for query in (nfd("Müller café"), "Schütz brûlée", "SCHÜTZ"):
            _, dfs, _ = arms.query_terms(conn, "default", query)
            assert len(dfs) == len(terms.term_counts(query)) > 0, query


def test_search_terms_are_nfc_and_case_folded():
    assert terms.terms(nfd("Café")) == terms.terms("café") == terms.terms("CAFÉ")
    assert terms.terms("Straße") == terms.terms("STRASSE")


def test_an_nfd_author_filter_finds_turns_stored_in_nfc(service):
    ingest(service, "a", "Zoë", "the offsite is in Lisbon")
    ingest(service, "b", "Zoe", "the offsite is in Porto")

    hits = service.search(SearchRequest(query="offsite", author=nfd("Zoë"), top_k=5)).hits

    assert ["Zoë"] in [h.authors for h in hits]  # (a forgiving filter may add "Zoe" too)


def test_the_list_query_matches_percent_underscore_and_backslash_literally(service):
    for cid, title in [("p", "100% sure"), ("u", "snake_case names"), ("b", "C:\\path"), ("x", "plain title")]:
        ingest(service, cid, "Ann", "hello", title=title)

    def listed(q: str) -> set[str]:
        return {c.external_id for c in service.list_conversations(query=q).items}

    assert listed("_") == {"u"}
    assert listed("%") == {"p"}
    assert listed("\\") == {"b"}
    assert listed("0%") == {"p"}
    assert listed("plain") == {"x"}
    assert listed(nfd("Café")) == set()


def test_the_list_query_is_nfc(service):
    ingest(service, "k", "Ann", "hello", title="Kaffee im Café")
    assert {c.external_id for c in service.list_conversations(query=nfd("Café")).items} == {"k"}


def test_migration_0010_rewrites_old_rows_in_nfc_and_its_downgrade_restores_them(scratch_url):
    db.migrate(scratch_url, "0009")
    engine = db.make_engine(scratch_url, 1)
    chunk_text = nfd("Zoë: the crème brûlée at STRASSE")
    old_terms = {terms.term_id(terms._stem(w)) for w in terms._WORD.findall(chunk_text.lower())}
    try:
        with engine.begin() as conn:
            cid = conversation_row(conn, nfd("réunion"))
            conversation_row(conn, nfd("double-é"))
            conversation_row(conn, "double-é")  # the same id stored in both forms: the NFD one stays
            conn.execute(
                text("UPDATE conversations SET title = :t, participants = ARRAY[:a] WHERE id = :id"),
                {"t": nfd(CAFE), "a": nfd("Zoë"), "id": cid},
            )
            conn.execute(
                text(
                    "INSERT INTO messages (conversation_id, seq, external_id, author, content) "
                    "VALUES (:cid, 1, :mid, :a, :c)"
                ),
                {"cid": cid, "mid": nfd("m-é"), "a": nfd("Zoë"), "c": chunk_text},
            )
            conn.execute(
                text(
                    "INSERT INTO chunks (conversation_id, namespace, source, first_seq, last_seq, message_ids, "
                    "authors, text, terms, n_terms, bm25) VALUES (:cid, 'default', 'slack', 1, 1, ARRAY[:mid], "
                    "ARRAY[:a], :t, :terms, :n, CAST(:bm25 AS sparsevec))"
                ),
                {
                    "cid": cid,
                    "mid": nfd("m-é"),
                    "a": nfd("Zoë"),
                    "t": chunk_text,
                    "terms": sorted(old_terms),
                    "n": len(old_terms),
                    "bm25": "{" + ",".join(f"{t + 1}:1" for t in sorted(old_terms)) + "}/" + str(terms.SPACE),
                },
            )

        db.migrate(scratch_url)

        new_terms = sorted(terms.term_counts(chunk_text))
        assert set(new_terms) != old_terms
        with engine.begin() as conn:
            ids = set(conn.execute(text("SELECT external_id FROM conversations")).scalars())
            assert ids == {"réunion", "double-é", nfd("double-é")}
            row = conn.execute(text("SELECT title, participants FROM conversations WHERE id = :id"), {"id": cid}).one()
            assert tuple(row) == (CAFE, ["Zoë"])
            assert tuple(conn.execute(text("SELECT external_id, author, content FROM messages")).one()) == (
                "m-é",
                "Zoë",
                chunk_text,
            )
            chunk = conn.execute(text("SELECT authors, message_ids, terms FROM chunks")).one()
            assert tuple(chunk) == (["Zoë"], ["m-é"], new_terms)
            copy = conn.execute(text("SELECT authors, terms FROM chunk_terms")).one()
            assert tuple(copy) == (["Zoë"], new_terms)
            stats = conn.execute(text("SELECT sum(df), count(*) FROM term_stats")).one()
            assert tuple(stats) == (len(new_terms), len(new_terms))

        db.downgrade(scratch_url, "0009")

        with engine.begin() as conn:
            ids = set(conn.execute(text("SELECT external_id FROM conversations")).scalars())
            assert ids == {nfd("réunion"), "double-é", nfd("double-é")}
            assert conn.execute(text("SELECT author FROM messages")).scalar_one() == nfd("Zoë")
            chunk = conn.execute(text("SELECT authors, terms FROM chunks")).one()
            assert tuple(chunk) == ([nfd("Zoë")], sorted(old_terms))
            assert conn.execute(text("SELECT to_regclass('unicode_originals')")).scalar() is None
    finally:
        engine.dispose()


def test_the_list_filters_refuse_text_that_cannot_be_stored(client):
    for params in ({"source": "\x00slack"}, {"q": "a\x00b"}):
        r = client.get("/v1/conversations", params=params)
        assert r.status_code == 422, r.text
        assert "NUL" in r.json()["detail"]
