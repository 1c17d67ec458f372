"""The offline answerer: no language model, just the retrieved turn's best sentence, cited.

Used when no provider is configured and as the fallback when one fails. It
scores every sentence of the numbered turns against the question by

- lexical support: idf-weighted share of the question's content words the
  sentence contains (idf over the retrieved sentences, so words every turn
  shares count for little). Names used to address the other person ("That's
  so cool Kate!") are address, not content, and do not count;
- meaning: cosine similarity between the question and the sentence with the
  same offline embedder that search uses (catches "beach holiday" for
  "favourite type of vacation");
- substance: greetings, backchannel and exclamations with fewer than three
  content words ("I'm doing well Kate.", "Haha yes!") support nothing;
- answer type: a sentence holding the kind of span the question asks for (a
  date for "when", a place for "where", a number for "how many", see
  mcp_rag/spans.py) gains over one that only repeats the question's words;
- retrieval rank: a small prior for turns from better search hits.

Chats answer questions across turns ("Where are you going?" / "Miami!"): a
short reply is read with the question before it, and a chosen sentence that
is itself a question brings the next speaker's reply. The answer is the short
span when one is found ("2013"), then the verbatim quote with its citation.
`score` is the winning sentence's support, which answer.py weighs to decide
whether anything was found at all.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mcp_rag import spans
from mcp_rag.models import Citation
from mcp_rag.prompt import NOT_FOUND, SourceTurn

SEMANTIC_CANDIDATES = 24
SHORT_REPLY_WORDS = 6  # a reply this short is read with the question before it
TYPE_BONUS = 0.25  # share added to a sentence that holds the span the question asks for
ADDRESSED = 0.6  # weight of a sentence that speaks to someone by name
EXCERPT_WORDS = 14  # a longer sentence is quoted by its clauses that carry the answer
SPANNED_EXCERPT_WORDS = 8  # after a short answer the quote only has to show where it came from
ALSO_CITED = 3  # other turns cited beside the quoted one ...
ALSO_RATIO = 0.5  # ... when their support is at least this share of the best
STOPWORDS = set(
    """a an the and or but if of to in on at by for with from about as into over after before is are was were be been
    being am do does did doing have has had having i me my we our you your he him his she her it its they them their
    what which who whom whose when where why how this that these those there here not no so than too very can could
    will would should shall may might must just also any some all both each more most other such only own same
    then once again ever up down out off did does tell said say says know think like get got go going really
    im ive id ill youre thats dont didnt cant wont isnt its lets oh ok okay yes yeah yep haha lol wow hey hi hello
    thanks thank well good great nice cool awesome sure bye goodbye cya ttyl lmao omg hmm ah aw yay""".split()
)
_SENTENCE = re.compile(r"(?<=[.!?…])\s+|\n+")
# Where a sentence may be cut into clauses: after , ; : and before a dash, a bracket or a conjunction.
CLAUSE = re.compile(
    r"(?<=[,;:])\s+|\s+(?=[–—-]\s)|\s+(?=\()"
    r"|\s+(?=(?:and|but|because|so|which|while|when|since|though|although|or)\s)"
)

Embed = Callable[[list[str]], np.ndarray]


def words(text: str) -> list[str]:
    text = text.lower().replace("’", "").replace("'", "")
    return [_stem(w) for w in re.findall(r"[a-z0-9]+", text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


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
    context: set[str] = field(default_factory=set)  # the question a short reply answers
    addressed: bool = False  # speaks to someone by name or label ("Kate, ...", "... Kate!", "AI: ...")
    span: str | None = None
    score: float = 0.0


@dataclass
class Extracted:
    text: str
    citations: list[Citation]
    score: float  # support of the chosen sentence; 0 when there was none


def answer(question: str, sources: list[SourceTurn], embed: Embed | None = None, asked: str | None = None) -> Extracted:
    """The answer text (citing [n]), its citations and its support, or NOT_FOUND with none.

    `asked` is the user's own wording when `question` was rewritten from a
    follow-up: its words count fully, words carried over from earlier count half.
    """
    kind = spans.question_type(asked or question)
    speakers = _speaker_names(sources)
    sentences = _sentences(sources, speakers)
    if not sentences:
        return Extracted(NOT_FOUND, [], 0.0)
    # The answer is never a word the question already says, nor who is talking.
    exclude = speakers | set(re.findall(r"[^\W\d_]+", question.lower()))
    proper = spans.proper_words([s.turn.content for s in sources])
    q_terms = set(words(question))
    own = set(words(asked)) if asked else q_terms
    weights = {t: 1.0 if t in own else 0.5 for t in q_terms}
    for s in sentences:
        if kind not in ("yesno", "other"):
            s.span = spans.span(kind, s.text, None if kind == "when" else s.source.turn.timestamp, exclude, proper)
    _score(sentences, weights, question, embed, kind)
    ranked = sorted(sentences, key=lambda s: s.score, reverse=True)
    best = ranked[0]
    picks = _with_reply(best, sources)
    if kind == "when":
        best.span = spans.date_span(best.text, best.source.turn.timestamp)
        if best.span is None and best.source.turn.timestamp is not None:
            best.span = spans.written(best.source.turn.timestamp)
    elif kind == "yesno":
        choices = spans.alternatives(asked or question)
        best.span = _choice(choices, ranked, embed) if choices else _polarity(asked or question, best, set(weights))
    shown = [(s, _excerpt(s, weights, kind)) for s in picks]
    quotes = " ".join(f"{s.source.speaker}: “{text}” [{s.source.n}]" for s, text in shown)
    citations = [s.source.citation(quote=text.strip("…")) for s, text in shown]
    # Other turns nearly as well supported are cited too: the answer often spans turns.
    also: list[Sentence] = []
    many = spans.asks_for_several(asked or question)
    for s in ranked[1:]:
        if len(also) == ALSO_CITED or s.score < ALSO_RATIO * best.score:
            break
        # Only full statements (no questions, reactions or greetings) that do not give another answer.
        # For a question asking for several things ("what movies ...?") another span adds an item.
        conflicts = s.span is not None and best.span is not None and s.span != best.span and kind != "when"
        conflicts = conflicts and not many
        if _weight(s, kind) >= 1.0 and not conflicts and all(s.source.n != p.source.n for p in picks + also):
            also.append(s)
    citations += [s.source.citation(quote=s.text) for s in also]
    lead = best.span
    if many and lead:
        lead = ", ".join(dict.fromkeys(x for t in [best, *also] if t.span for x in t.span.split(", ")))
    text = f"{lead}. {quotes}" if lead else quotes
    if also:
        text += " Also " + "".join(f"[{s.source.n}]" for s in also) + "."
    return Extracted(text, citations, best.score)


def _polarity(question: str, s: Sentence, q_terms: set[str]) -> str:
    """Yes or No to a yes/no question, from the sentence that answers it.

    A claim with no exceptions ("does she always ...") that the sentence does not
    repeat is answered No. Otherwise the answer is No when a clause of the sentence
    is negated and speaks of what the question asks (shares a word with it, or the
    sentence is a short reply), Yes when not; a negated question turns it round.
    """
    if (m := spans.ABSOLUTE.search(question)) and m.group(1).lower() not in s.text.lower():
        return "No"
    short = len(s.text.split()) <= SHORT_REPLY_WORDS
    denies = any(spans.negated(c) and (short or set(words(c)) & q_terms) for c in re.split(CLAUSE, s.text))
    return "No" if denies != spans.negated(question) else "Yes"


def _choice(choices: list[str], ranked: list[Sentence], embed: Embed | None) -> str | None:
    """Which of the question's alternatives the best sentences hold ("part-time" of "full-time or
    part-time"); when none holds either, the one nearest in meaning to the best sentences."""
    held = {
        c: sum(s.score for s in ranked[:SEMANTIC_CANDIDATES] if re.search(rf"\b{re.escape(c)}\b", s.text, re.I))
        for c in choices
    }
    if max(held.values()) > 0:
        return max(choices, key=lambda c: held[c])
    if embed is None:
        return None
    context = " ".join(s.text for s in ranked[:3])
    vectors = embed([context, *choices])
    return max(zip(choices, vectors[1:], strict=True), key=lambda cv: float(np.dot(vectors[0], cv[1])))[0]


def _excerpt(s: Sentence, weights: dict[str, float], kind: str) -> str:
    """The sentence, or for a long one the run of its clauses (or, within one long clause, of its
    words) that holds the span or the most question words, marked "…" where it was cut."""
    limit = SPANNED_EXCERPT_WORDS if s.span else EXCERPT_WORDS
    if len(s.text.split()) <= limit:
        return s.text
    pieces = re.split(CLAUSE, s.text)
    best, best_value = (0, len(pieces)), -1.0
    for i in range(len(pieces)):
        for j in range(i + 1, len(pieces) + 1):
            part = " ".join(pieces[i:j])
            n = len(part.split())
            if n > limit and j > i + 1:
                break
            value = sum(weights.get(t, 0.0) for t in set(words(part)))
            if s.span and s.span in part:
                value += 1.0
            value -= 0.01 * n  # the shorter of two equal runs
            if value > best_value:
                best, best_value = (i, j), value
    i, j = best
    text = " ".join(pieces[i:j]).rstrip(",;:")
    before, after = i > 0, j < len(pieces)
    tokens = text.split()
    if len(tokens) > limit:  # one long clause: the run of words that holds the answer

        def run_value(k: int) -> float:
            run = " ".join(tokens[k : k + limit])
            return sum(weights.get(t, 0.0) for t in set(words(run))) + (1.0 if s.span and s.span in run else 0.0)

        k = max(range(len(tokens) - limit + 1), key=lambda k: (run_value(k), -k))
        before, after = before or k > 0, after or k + limit < len(tokens)
        text = " ".join(tokens[k : k + limit]).rstrip(",;:")
    return ("…" if before else "") + text + ("…" if after else "")


def _speaker_names(sources: list[SourceTurn]) -> set[str]:
    names: set[str] = set()
    for s in sources:
        names.update(w.lower() for w in re.findall(r"[^\W\d_]+", s.speaker))
    return names


_FIRST_PERSON = re.compile(r"\b(i|i'm|i’m|i've|i’ve|i'd|i’d|i'll|i’ll|im|ive|me|my|mine|myself)\b", re.I)
# A sentence opening with a one-word label and a colon speaks to whoever the label names.
_LABEL = re.compile(r"^\W*[^\W\d_]+\s*:")
_ADDRESS = re.compile(r"^\W*(?:(?:hey|hi|hello|oh|thanks|thank you|ok|okay|yes|no|well)\W+)?([^\W\d_]+)\s*[,!]", re.I)


def _vocatives(text: str, speakers: set[str]) -> set[str]:
    """Speaker names used to address someone: at the start before a comma, or closing the sentence."""
    found = set()
    if m := _ADDRESS.match(text):
        found.add(m.group(1).lower())
    if m := re.search(r"[,\s]([^\W\d_]+)\W*$", text):
        found.add(m.group(1).lower())
    return {n for n in found if n in speakers}


def _sentences(sources: list[SourceTurn], speakers: set[str]) -> list[Sentence]:
    by_position = {(s.conversation_id, s.turn.seq): s for s in sources}
    out: list[Sentence] = []
    for source in sources:
        context: set[str] = set()
        if len(source.turn.content.split()) <= SHORT_REPLY_WORDS:
            before = by_position.get((source.conversation_id, source.turn.seq - 1))
            if before is not None and before.speaker != source.speaker:
                context = set(words(before.turn.content))
        # "I went skiing", said by Kate, says "Kate went skiing".
        me = set(words(source.speaker))
        for text in _SENTENCE.split(source.turn.content):
            text = text.strip()
            if text:
                called = _vocatives(text, speakers)
                terms = set(words(text)) - {_stem(n) for n in called}
                if _FIRST_PERSON.search(text) or context:  # a short reply answers a question put to its speaker
                    terms |= me
                out.append(Sentence(source, text, terms, context, addressed=bool(called) or bool(_LABEL.match(text))))
    return out


def _score(sentences: list[Sentence], weights: dict[str, float], question: str, embed: Embed | None, kind: str) -> None:
    q_names = {w.lower() for w in re.findall(r"[A-Za-z]+", question)}
    df = Counter(t for s in sentences for t in s.terms)
    n = len(sentences)
    idf = {t: w * math.log(1 + n / (1 + df[t])) for t, w in weights.items()}
    total = sum(idf.values()) or 1.0
    for s in sentences:
        own = sum(idf[t] for t in idf.keys() & s.terms)
        carried = sum(idf[t] for t in (idf.keys() & s.context) - s.terms)
        lexical = (own + 0.5 * carried) / total
        prior = 1.0 / (1.0 + s.source.rank)
        # "What are Kate's hobbies?" is best answered by what Kate herself said.
        speaker = 0.1 if s.source.speaker.split()[0].lower() in q_names else 0.0
        s.score = (0.6 * lexical + 0.1 * prior + speaker) * _weight(s, kind)
    if embed is None:
        return
    # Embedding every sentence is the slow part; only the lexical front-runners need it.
    top = sorted(sentences, key=lambda s: s.score, reverse=True)[:SEMANTIC_CANDIDATES]
    vectors = embed([question] + [s.text for s in top])
    for s, v in zip(top, vectors[1:], strict=True):
        s.score += 0.5 * max(0.0, float(np.dot(vectors[0], v))) * _weight(s, kind)


def _weight(s: Sentence, kind: str) -> float:
    """How much a sentence can carry an answer, apart from its words' match."""
    substance = min(1.0, (len(s.terms) + 0.5 * len(s.context)) / 3)
    if s.text.rstrip().endswith("!") and len(s.text.split()) <= 5 and s.span is None:
        substance *= 0.5  # a short exclamation reacts to something; it rarely states it
    if s.addressed:
        substance *= ADDRESSED  # "That's so cool Kate!": said to someone, it reacts more than it tells
    # A question in the chat asks for the answer rather than giving it; its reply is brought along.
    asking = 0.7 if s.text.rstrip().endswith("?") else 1.0
    typed = 1.0 + TYPE_BONUS if s.span is not None and kind not in ("yesno", "other") else 1.0
    return substance * asking * typed


def _with_reply(best: Sentence, sources: list[SourceTurn]) -> list[Sentence]:
    if not best.text.rstrip().endswith("?"):
        return [best]
    by_position = {(s.conversation_id, s.turn.seq): s for s in sources}
    reply = by_position.get((best.source.conversation_id, best.source.turn.seq + 1))
    if reply is None or reply.speaker == best.source.speaker:
        return [best]
    first = next((t.strip() for t in _SENTENCE.split(reply.turn.content) if t.strip()), "")
    return [best, Sentence(reply, first, set(words(first)))] if first else [best]
