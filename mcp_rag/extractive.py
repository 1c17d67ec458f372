"""The offline answerer: no language model, just the retrieved turns' best sentences, cited.

Used when no provider is configured and as the fallback when one fails. It
scores every sentence of the numbered turns against the question by

- lexical support: idf-weighted share of the question's content words the
  sentence contains (idf over the retrieved sentences, so words every turn
  shares count for little);
- meaning: cosine similarity between the question and the sentence with the
  same offline embedder that search uses (catches "beach holiday" for
  "favourite type of vacation");
- retrieval rank: a small prior for turns from better search hits.

Chats answer questions across turns ("Where are you going?" / "Miami!"), so a
chosen sentence that is itself a question brings the next speaker's reply.
Turns that talk to an AI ("ignore previous instructions") are never evidence.
"When" questions are answered with the date of the cited turn.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mcp_rag.models import Citation
from mcp_rag.prompt import NOT_FOUND, SourceTurn, looks_like_injection

MAX_SENTENCES = 2
SEMANTIC_CANDIDATES = 24
STOPWORDS = set(
    """a an the and or but if of to in on at by for with from about as into over after before is are was were be been
    being am do does did doing have has had having i me my we our you your he him his she her it its they them their
    what which who whom whose when where why how this that these those there here not no so than too very can could
    will would should shall may might must just also any some all both each more most other such only own same
    then once again ever up down out off did does tell said say says know think like get got go going really""".split()
)
_WHEN = re.compile(r"^\s*(when|what (date|day|time|month|year)|which (date|day|month|year)|how long ago)\b", re.I)
_SENTENCE = re.compile(r"(?<=[.!?…])\s+|\n+")

Embed = Callable[[list[str]], np.ndarray]


def words(text: str) -> list[str]:
    return [_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower().replace("’", "'")) if w not in STOPWORDS]


def _stem(word: str) -> str:
    # Light suffix stripping: enough for "skiing"/"ski", "visited"/"visit", "cities"/"city".
    for suffix, repl in (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= (2 if repl else 3):
            return word[: -len(suffix)] + repl
    return word


@dataclass
class Sentence:
    source: SourceTurn
    text: str
    terms: set[str]
    score: float = 0.0


def answer(
    question: str, sources: list[SourceTurn], embed: Embed | None = None, asked: str | None = None
) -> tuple[str, list[Citation]]:
    """The answer text (citing [n]) and its citations, or NOT_FOUND with none.

    `asked` is the user's own wording when `question` was rewritten from a
    follow-up: its words count fully, words carried over from earlier count half.
    """
    sentences = _sentences(sources)
    q_terms = set(words(question))
    if not sentences:
        return NOT_FOUND, []
    own = set(words(asked)) if asked else q_terms
    weights = {t: 1.0 if t in own else 0.5 for t in q_terms}
    _score(sentences, weights, question, embed)
    ranked = sorted(sentences, key=lambda s: s.score, reverse=True)
    best = ranked[0]
    if best.score < 0.2:
        return NOT_FOUND, []

    chosen: list[Sentence] = []
    for s in ranked:
        if len(chosen) >= MAX_SENTENCES or s.score < 0.8 * best.score:
            break
        if all(s.source.n != c.source.n for c in chosen):
            chosen.append(s)
    picks = _with_replies(chosen, sources)
    dated = bool(_WHEN.search(question))
    lines = [_render(s, dated) for s in picks]
    citations = [s.source.citation(quote=s.text) for s in picks]
    return " ".join(lines), citations


def _sentences(sources: list[SourceTurn]) -> list[Sentence]:
    out: list[Sentence] = []
    for source in sources:
        if looks_like_injection(source.turn.content):
            continue
        for text in _SENTENCE.split(source.turn.content):
            text = text.strip()
            if text:
                out.append(Sentence(source, text, set(words(text))))
    return out


def _first_name(speaker: str) -> str:
    return speaker.split()[0].lower() if speaker.strip() else ""


def _score(sentences: list[Sentence], weights: dict[str, float], question: str, embed: Embed | None) -> None:
    q_names = {w.lower() for w in re.findall(r"[A-Za-z]+", question)}
    df = Counter(t for s in sentences for t in s.terms)
    n = len(sentences)
    idf = {t: w * math.log(1 + n / (1 + df[t])) for t, w in weights.items()}
    total = sum(idf.values()) or 1.0
    for s in sentences:
        lexical = sum(idf[t] for t in idf.keys() & s.terms) / total
        prior = 1.0 / (1.0 + s.source.rank)
        # Bare acknowledgements ("Haha yes!") support nothing, however well ranked.
        substance = min(1.0, len(s.terms) / 3)
        # A question in the chat asks for the answer rather than giving it; its reply is brought along.
        asking = 0.7 if s.text.rstrip().endswith("?") else 1.0
        # "What are Kate's hobbies?" is best answered by what Kate herself said.
        speaker = 0.1 if _first_name(s.source.speaker) in q_names else 0.0
        s.score = (0.6 * lexical + 0.1 * prior + speaker) * substance * asking
    if embed is None:
        return
    # Embedding every sentence is the slow part; only the lexical front-runners need it.
    top = sorted(sentences, key=lambda s: s.score, reverse=True)[:SEMANTIC_CANDIDATES]
    vectors = embed([question] + [s.text for s in top])
    for s, v in zip(top, vectors[1:], strict=True):
        cosine = float(np.dot(vectors[0], v))
        asking = 0.7 if s.text.rstrip().endswith("?") else 1.0
        s.score += 0.5 * max(0.0, cosine) * min(1.0, len(s.terms) / 3) * asking


def _with_replies(chosen: list[Sentence], sources: list[SourceTurn]) -> list[Sentence]:
    by_position = {(s.conversation_id, s.turn.seq): s for s in sources}
    picks: list[Sentence] = []
    for s in chosen:
        picks.append(s)
        if not s.text.rstrip().endswith("?"):
            continue
        reply = by_position.get((s.source.conversation_id, s.source.turn.seq + 1))
        if reply and reply.speaker != s.source.speaker and all(p.source.n != reply.n for p in picks + chosen):
            first = next((t.strip() for t in _SENTENCE.split(reply.turn.content) if t.strip()), "")
            if first and not looks_like_injection(reply.turn.content):
                picks.append(Sentence(reply, first, set(words(first))))
    return picks


def _render(s: Sentence, dated: bool) -> str:
    ts = s.source.turn.timestamp
    if dated and ts:
        return f"On {ts.day} {ts:%B %Y}, {s.source.speaker} said: “{s.text}” [{s.source.n}]"
    return f"{s.source.speaker}: “{s.text}” [{s.source.n}]"
