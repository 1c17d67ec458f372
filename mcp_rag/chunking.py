"""Chunks: windows of consecutive turns, the unit that search returns.

A chunk never cuts a message unless that message alone is longer than the
window; then the message is split into word windows that all point back to it.
Each line carries the speaker and the time ("Kate (Wednesday 3 January 2024, 22:11): ..."),
so that "who" and "when" questions can match the text itself.

A chunk is *indexed* with its neighbouring turns (`context` on each side) but
*returns* only its own turns. In a chat the answer to "what pasta did Kate
learn?" is often a bare "ham and peas!" whose meaning lives in the turn before
it; indexing a turn with its neighbours lets both BM25 and the embedding see
that meaning, while the hit stays small, so a reader's word budget buys more
distinct answers (measured in docs/RETRIEVAL.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Turn:
    seq: int
    external_id: str
    author: str | None
    role: str | None
    content: str
    timestamp: datetime | None


@dataclass
class ChunkDraft:
    first_seq: int
    last_seq: int
    message_ids: list[str]
    authors: list[str]
    roles: list[str]
    started_at: datetime | None
    ended_at: datetime | None
    lines: list[str] = field(default_factory=list)
    before: list[str] = field(default_factory=list)  # neighbouring turns, indexed but not returned
    after: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """What a hit shows: the chunk's own turns."""
        return "\n".join(self.lines)

    @property
    def index_text(self) -> str:
        """What search matches against: the chunk's turns with their neighbours."""
        return "\n".join(self.before + self.lines + self.after)


def turn_line(turn: Turn, content: str | None = None) -> str:
    who = turn.author or turn.role or "unknown"
    # Written out ("Saturday 30 December 2023"), so "December" or "Saturday" in a question can match.
    when = f" ({turn.timestamp:%A %-d %B %Y, %H:%M})" if turn.timestamp else ""
    return f"{who}{when}: {content if content is not None else turn.content}"


def _draft(turns: Sequence[Turn], lines: list[str]) -> ChunkDraft:
    times = [t.timestamp for t in turns if t.timestamp is not None]
    return ChunkDraft(
        first_seq=turns[0].seq,
        last_seq=turns[-1].seq,
        message_ids=[t.external_id for t in turns],
        authors=sorted({t.author for t in turns if t.author}),
        roles=sorted({t.role for t in turns if t.role}),
        started_at=min(times) if times else None,
        ended_at=max(times) if times else None,
        lines=lines,
    )


def _split_long(turn: Turn, max_words: int) -> list[ChunkDraft]:
    words = turn.content.split()
    return [
        _draft([turn], [turn_line(turn, " ".join(words[i : i + max_words]))]) for i in range(0, len(words), max_words)
    ]


def chunk_turns(
    turns: Sequence[Turn], max_words: int, max_messages: int, context: int = 0, emit_from: int = 0
) -> list[ChunkDraft]:
    """Group consecutive turns into windows of at most max_words / max_messages.

    Each window is indexed with up to `context` turns on either side. Only
    windows starting at seq ≥ emit_from are returned: earlier turns serve as
    context when a conversation's tail is re-chunked after an append.
    """
    chunks = _windows(turns, max_words, max_messages)
    position = {t.seq: i for i, t in enumerate(turns)}
    for chunk in chunks:
        first, last = position[chunk.first_seq], position[chunk.last_seq]
        chunk.before = [turn_line(t, _clip(t.content, max_words)) for t in turns[max(0, first - context) : first]]
        chunk.after = [turn_line(t, _clip(t.content, max_words)) for t in turns[last + 1 : last + 1 + context]]
    return [c for c in chunks if c.first_seq >= emit_from]


def _clip(content: str, max_words: int) -> str:
    words = content.split()
    return content if len(words) <= max_words else " ".join(words[:max_words])


def _windows(turns: Sequence[Turn], max_words: int, max_messages: int) -> list[ChunkDraft]:
    chunks: list[ChunkDraft] = []
    window: list[Turn] = []
    words = 0

    def flush() -> None:
        nonlocal window, words
        if window:
            chunks.append(_draft(window, [turn_line(t) for t in window]))
        window, words = [], 0

    for turn in turns:
        n = len(turn.content.split())
        if n > max_words:
            flush()
            chunks.extend(_split_long(turn, max_words))
            continue
        if window and (words + n > max_words or len(window) >= max_messages):
            flush()
        window.append(turn)
        words += n
    flush()
    return chunks
