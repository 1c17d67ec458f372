"""Terms: the words BM25 counts, the same way for chunks and for queries.

Case-folded word tokens of the NFC text, English stop words dropped (the Snowball list that
PostgreSQL's `english` configuration also uses), Snowball English stems, so
"skiing" in a question meets "ski" and "skied" in a turn. Each term is hashed
to a fixed index in a sparse vector space: no vocabulary table to keep in sync,
and 2^29 slots make collisions between the few thousand terms of a
conversation corpus negligible.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import re
import sys
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Any

SPACE = 2**29  # dimensions of the sparse term vectors (pgvector allows up to 10^9)

STOP_WORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
    herself it its itself they them their theirs themselves what which who whom this that these those am is are
    was were be been being have has had having do does did doing a an the and but if or because as until while of
    at by for with about against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each few more most other
    some such no nor not only own same so than too very s t can will just don should now""".split()
)

_WORD = re.compile(r"[^\W_]+")


def _english_stemmer() -> Any:
    """snowballstemmer's English stemmer alone: the package's own __init__ imports the stemmers
    of all its 30 languages (~3 MiB in every server). Its modules are loaded under a private
    package name, so that `import snowballstemmer` elsewhere still gets the whole package."""
    found = importlib.util.find_spec("snowballstemmer")
    if found is None or not found.submodule_search_locations:
        raise ImportError("snowballstemmer is not installed")
    spec = importlib.machinery.ModuleSpec(_SNOWBALL, None, is_package=True)
    spec.submodule_search_locations = list(found.submodule_search_locations)
    sys.modules.setdefault(_SNOWBALL, importlib.util.module_from_spec(spec))
    return importlib.import_module(f"{_SNOWBALL}.english_stemmer").EnglishStemmer()


_SNOWBALL = "mcp_rag_snowball"
_stemmer = _english_stemmer()


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def terms(text: str) -> list[str]:
    """The stemmed, stop-word-free terms of a text, in order. NFC first, so "é" written as "e"
    plus a combining accent is one word, not "e" cut off; casefold, so "STRASSE" meets "Straße"."""
    return [_stem(w) for w in _WORD.findall(unicodedata.normalize("NFC", text).casefold()) if w not in STOP_WORDS]


@lru_cache(maxsize=200_000)
def term_id(term: str) -> int:
    """A stable slot for a term in the sparse vector space (same in every process)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "big") % SPACE


def term_counts(text: str) -> Counter[int]:
    """Term id → occurrences in the text."""
    return Counter(term_id(t) for t in terms(text))
