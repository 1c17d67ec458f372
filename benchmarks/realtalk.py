"""REALTALK loader shared by the benchmarks (retrieval and answer evaluation).

REALTALK (../shared/data/realtalk, format in its README.md) holds ten real
messaging-app conversations, each with questions whose answers point at turns
by `dia_id`. This module turns one file into a `Conversation`: its turns in
order, its questions with evidence ids cleaned up, and the JSON body that
POST /v1/conversations takes.

The evidence lists are hand-typed and messy ("D2:136; D2:137", "D5:3.",
"D12:3-D12:5"); `evidence_ids` reads them generously and `Question.evidence`
keeps only ids that name a real turn, so recall is measured against turns that
exist. A question left with no real evidence is not scored (`scorable`).

The tune / held-out split is fixed by file name (odd-numbered chats to tune
on, even-numbered held out), so every run and every engineer uses the same
halves, and each half mixes short and long conversations.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

TUNE = (
    "Chat_1_Emi_Elise",
    "Chat_3_Kevin_Paola",
    "Chat_5_Nicolas_Nebraas",
    "Chat_7_Nebraas_Vanessa",
    "Chat_9_Fahim_Akib",
)
HELDOUT = (
    "Chat_2_Kevin_Elise",
    "Chat_4_Emi_Paola",
    "Chat_6_Vanessa_Nicolas",
    "Chat_8_Akib_Muhhamed",
    "Chat_10_Fahim_Muhhamed",
)
SPLITS = {"tune": TUNE, "heldout": HELDOUT, "all": TUNE + HELDOUT}

_SESSION = re.compile(r"session_(\d+)")
_ID = re.compile(r"D(\d+):(\d+)")
_RANGE = re.compile(r"D(\d+):(\d+)\s*-\s*D?(\d+):(\d+)")


@dataclass(frozen=True)
class Turn:
    dia_id: str
    speaker: str
    text: str
    timestamp: datetime

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class Question:
    question: str
    answer: str
    category: int
    evidence: tuple[str, ...]  # ids of turns that exist in the conversation

    @property
    def scorable(self) -> bool:
        return bool(self.evidence)


@dataclass
class Conversation:
    name: str  # file stem, also the conversation's external id
    speakers: tuple[str, ...]
    turns: list[Turn]
    questions: list[Question] = field(default_factory=list)

    @property
    def turn_by_id(self) -> dict[str, Turn]:
        return {t.dia_id: t for t in self.turns}

    def ingest_body(self) -> dict:
        """The POST /v1/conversations body: one message per turn, dia_id as message id."""
        return {
            "id": self.name,
            "title": " & ".join(self.speakers),
            "source": "realtalk",
            "messages": [
                {"id": t.dia_id, "author": t.speaker, "content": t.text, "timestamp": t.timestamp.isoformat()}
                for t in self.turns
            ],
        }


def parse_time(value: str) -> datetime:
    """'DD.MM.YYYY, HH:MM:SS' → datetime (naive; the service reads it as UTC)."""
    return datetime.strptime(value.strip(), "%d.%m.%Y, %H:%M:%S")


def evidence_ids(raw: list[str]) -> list[str]:
    """All turn ids named in an evidence list, ranges ("D12:3-D12:5") expanded."""
    ids: list[str] = []
    for item in raw:
        for part in re.split(r"[;,\s]+(?![-])", item):
            span = _RANGE.fullmatch(part.strip(" ."))
            if span and span.group(1) == span.group(3):
                s, a, b = int(span.group(1)), int(span.group(2)), int(span.group(4))
                ids.extend(f"D{s}:{i}" for i in range(a, b + 1))
                continue
            ids.extend(f"D{m.group(1)}:{m.group(2)}" for m in _ID.finditer(part) if _ID.fullmatch(m.group(0)))
    return list(dict.fromkeys(ids))


def load_file(path: Path) -> Conversation:
    data = json.loads(path.read_text(encoding="utf-8"))
    sessions = sorted((int(m.group(1)), key) for key in data if (m := _SESSION.fullmatch(key)))
    turns = [
        Turn(t["dia_id"], t["speaker"], t["clean_text"], parse_time(t["date_time"]))
        for _, key in sessions
        for t in data[key]
        if t["clean_text"].strip()
    ]
    known = {t.dia_id for t in turns}
    questions = [
        Question(
            q["question"],
            str(q.get("answer", "")),
            int(q["category"]),
            tuple(e for e in evidence_ids(q["evidence"]) if e in known),
        )
        for q in data["qa"]
    ]
    return Conversation(path.stem, tuple(data["name"].values()), turns, questions)


def load(data_dir: Path | str, split: str = "all") -> list[Conversation]:
    """The conversations of one split ('tune', 'heldout' or 'all'), in a fixed order."""
    names = SPLITS[split]
    root = Path(data_dir)
    missing = [n for n in names if not (root / f"{n}.json").is_file()]
    if missing:
        raise FileNotFoundError(f"REALTALK files missing in {root}: {', '.join(missing)}")
    return [load_file(root / f"{n}.json") for n in names]
