"""Data that crosses a boundary: what comes in (conversations, messages,
search requests) and what goes out (hits, summaries, transcripts).

Validation lives here so every door rejects the same input the same way.

- `text`: the bounds and checks of stored text, metadata and times.
- `conversations`: conversations and messages, in and out.
- `search`: search filters (times in words included), requests and results.
- `answers`: questions and cited answers.
"""

from mcp_rag.models.answers import Answer, AskRequest, ChatTurn, Citation
from mcp_rag.models.conversations import (
    ConversationIn,
    ConversationPage,
    ConversationSummary,
    IngestResult,
    Message,
    MessageIn,
    Remembered,
    Transcript,
)
from mcp_rag.models.search import (
    TIME_HELP,
    AppliedFilters,
    Hit,
    SearchFilters,
    SearchRequest,
    SearchResult,
    TimeFilter,
)
from mcp_rag.models.text import (
    AROUND_AFTER,
    AROUND_BEFORE,
    CUT_TEXT,
    DEFAULT_NAMESPACE,
    MAX_ID_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_MESSAGES_PER_REQUEST,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_PAGE,
    MAX_STRING_BYTES,
    check_reference,
    nfc,
)

__all__ = [
    "AROUND_AFTER",
    "AROUND_BEFORE",
    "CUT_TEXT",
    "DEFAULT_NAMESPACE",
    "MAX_ID_CHARS",
    "MAX_MESSAGES_PER_REQUEST",
    "MAX_MESSAGE_CHARS",
    "MAX_METADATA_BYTES",
    "MAX_METADATA_DEPTH",
    "MAX_PAGE",
    "MAX_STRING_BYTES",
    "TIME_HELP",
    "Answer",
    "AppliedFilters",
    "AskRequest",
    "ChatTurn",
    "Citation",
    "ConversationIn",
    "ConversationPage",
    "ConversationSummary",
    "Hit",
    "IngestResult",
    "Message",
    "MessageIn",
    "Remembered",
    "SearchFilters",
    "SearchRequest",
    "SearchResult",
    "TimeFilter",
    "Transcript",
    "check_reference",
    "nfc",
]
