"""Slack: the workspace export (a zip or its folder) and the messages of the live sync.

An export holds `users.json`, `channels.json` (and `groups.json`, `mpims.json`,
`dms.json` in full exports) and one folder per channel with a JSON array per
day (`general/2024-03-04.json`).

What becomes a conversation:
- a thread (a parent with replies) is one conversation, `slack:<channel>:<thread_ts>`;
- messages outside threads form one conversation per channel and UTC day,
  `slack:<channel>:<YYYY-MM-DD>`.
Message ids are Slack's `ts`, so a thread whose replies span several day files,
a re-run, or the live sync (which builds the same ids) only ever appends.

Noise is left out unless asked for: joins, leaves, topic and purpose changes,
pins, bot and app posts, deleted-message tombstones. An edited message keeps
its final text (what the export holds) and its edit time in metadata; shared
files are named in the text (`[file: plan.pdf]`, with the title if it says
more: `[file: plan.pdf, Offsite plan]`) with their links in metadata; files
hidden by the plan's limit have no name and are left out. A message with only
rich-text blocks takes its text from them; a shared (forwarded) message is
quoted (`> Bob: text`). User ids, in authors and in `<@U123>` mentions, become
people's names.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mcp_rag.importers.base import Entry, Item, Problem, Tree, dict_of, message, parts, str_of
from mcp_rag.importers.jsonstream import records
from mcp_rag.models import MessageIn

NAME = "slack"
KEPT_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}
NEVER_KEPT = {"tombstone", "message_deleted", "message_changed"}
DAY_FILE = re.compile(r"^(?P<dir>.+)/(?P<day>\d{4}-\d{2}-\d{2})\.json$")
HIDDEN_FILES = {"hidden_by_limit", "tombstone"}
LISTS = {"channels.json": "channel", "groups.json": "group", "mpims.json": "mpim", "dms.json": "dm"}


@dataclass(frozen=True)
class Channel:
    id: str
    name: str


class People:
    """User ids to names: from users.json, or looked up (live sync) and remembered."""

    def __init__(self, users: Iterable[Any] = (), lookup: Callable[[str], dict | None] | None = None):
        self._names: dict[str, str] = {}
        self._lookup = lookup
        for user in users:
            self.add(user)

    def add(self, user: Any) -> None:
        if isinstance(user, dict) and isinstance(user.get("id"), str):
            self._names[user["id"]] = _display(user) or user["id"]

    def name(self, user_id: Any, profile: Any = None) -> str | None:
        if not isinstance(user_id, str):
            return None
        if user_id not in self._names:
            found = self._lookup(user_id) if self._lookup else None
            self._names[user_id] = _display(found or {}) or _display({"profile": profile}) or user_id
        return self._names[user_id]


def _display(user: dict) -> str | None:
    profile = dict_of(user.get("profile"))
    for value in (profile.get("real_name"), user.get("real_name"), profile.get("display_name"), user.get("name")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


_ENTITY = re.compile(r"<([^<>\n]{1,500})>")


def render(text: str, people: People) -> str:
    """Slack's markup as people read it: <@U1> → @Kate, <#C1|general> → #general, <url|label> → label (url)."""

    def one(m: re.Match[str]) -> str:
        target, _, label = m.group(1).partition("|")
        if target.startswith("@"):
            return "@" + (label or people.name(target[1:]) or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return label or "@" + target[1:].split("^")[0]
        return f"{label} ({target})" if label and label != target else target

    return html.unescape(_ENTITY.sub(one, text))


def ts_time(ts: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def to_message(location: str, raw: Any, people: People, keep_noise: bool = False) -> MessageIn | Problem | None:
    """One Slack message as ours; None for noise and empty messages."""
    if not isinstance(raw, dict):
        return Problem(location, "expected a message object")
    ts, subtype = raw.get("ts"), raw.get("subtype")
    if not isinstance(ts, str) or ts_time(ts) is None:
        return Problem(location, "message has no valid `ts`")
    bot = (
        bool(raw.get("bot_id")) or subtype in ("bot_message", "bot_add", "bot_remove") or raw.get("user") == "USLACKBOT"
    )
    if subtype in NEVER_KEPT or raw.get("hidden") or (not keep_noise and (bot or subtype not in KEPT_SUBTYPES)):
        return None
    text = render(raw["text"], people) if isinstance(raw.get("text"), str) else ""
    if not text.strip():  # newer clients may send only rich-text blocks
        text = blocks_text(raw.get("blocks"), people)
    # Files hidden by the free plan's limit or deleted carry no name: nothing to say about them.
    files = [f for f in raw.get("files") or [] if isinstance(f, dict) and f.get("mode") not in HIDDEN_FILES]
    shared = [_shared(a, people) for a in raw.get("attachments") or [] if isinstance(a, dict)]
    lines = [text, *(s for s in shared if s), *(f"[file: {_file_label(f)}]" for f in files)]
    content = "\n".join(line for line in lines if line.strip()).strip()
    if not content:
        return None
    bot_profile = dict_of(raw.get("bot_profile"))
    author = people.name(raw.get("user"), raw.get("user_profile")) or raw.get("username") or bot_profile.get("name")
    metadata: dict[str, Any] = {"ts": ts}
    for key in ("user", "thread_ts", "subtype"):
        if isinstance(raw.get(key), str):
            metadata[key] = raw[key]
    if isinstance(raw.get("edited"), dict):
        metadata["edited_at"] = str(ts_time(raw["edited"].get("ts")) or raw["edited"].get("ts"))
    if files:
        metadata["files"] = [
            {k: f[k] for k in ("name", "title", "mimetype", "permalink") if isinstance(f.get(k), str)} for f in files
        ]
    reactions = [r for r in raw.get("reactions") or [] if isinstance(r, dict) and isinstance(r.get("name"), str)]
    if reactions:
        metadata["reactions"] = {r["name"]: r.get("count", 1) for r in reactions}
    return message(
        location,
        id=ts,
        author=author if isinstance(author, str) else None,
        role="bot" if bot else "user",
        content=content,
        timestamp=ts_time(ts),
        metadata=metadata,
    )


def _file_label(file: dict) -> str:
    """`plan.pdf`, or `plan.pdf, Offsite plan` when the title says more than the file name."""
    name, title = str_of(file.get("name")).strip(), str_of(file.get("title")).strip()
    if not name or not title or title in (name, name.rsplit(".", 1)[0]):
        return name or title or "file"
    return f"{name}, {title}"


def _shared(attachment: dict, people: People) -> str:
    """A shared or forwarded message, quoted: `> Bob: text`. Link previews (unfurls) are left out."""
    if not (attachment.get("is_share") or attachment.get("is_msg_unfurl")):
        return ""
    text = str_of(attachment.get("text"))
    text = render(text, people) if text.strip() else blocks_text(attachment.get("message_blocks"), people)
    if not text.strip():
        return ""
    author = attachment.get("author_name") or people.name(attachment.get("author_id"))
    quoted = "\n".join(f"> {line}" for line in text.splitlines())
    return quoted.replace("> ", f"> {author}: ", 1) if isinstance(author, str) and author else quoted


def blocks_text(blocks: Any, people: People) -> str:
    """The text of Slack's Block Kit blocks: rich text (sections, lists, quotes, code) and section text."""
    if not isinstance(blocks, list):
        return ""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, dict) and isinstance(block.get("message"), dict):  # message_blocks of a share
            block = block["message"]
            out.append(blocks_text(block.get("blocks"), people))
        elif isinstance(block, dict) and block.get("type") == "rich_text":
            out.extend(_rich(e, people) for e in block.get("elements") or [] if isinstance(e, dict))
        elif isinstance(block, dict) and isinstance(block.get("text"), dict):
            text = block["text"].get("text")
            out.append(render(text, people) if isinstance(text, str) else "")
    return "\n".join(t for t in out if t.strip())


def _rich(element: dict, people: People) -> str:
    kind, children = element.get("type"), [e for e in element.get("elements") or [] if isinstance(e, dict)]
    if kind == "rich_text_list":
        marks = [f"{i}." for i in range(1, len(children) + 1)] if element.get("style") == "ordered" else None
        return "\n".join(f"{marks[i] if marks else '•'} {_rich(c, people)}" for i, c in enumerate(children))
    text = "".join(_inline(c, people) for c in children)
    if kind == "rich_text_quote":
        return "\n".join(f"> {line}" for line in text.splitlines())
    if kind == "rich_text_preformatted":
        return f"```\n{text}\n```"
    return text


def _inline(element: dict, people: People) -> str:
    kind = element.get("type")
    if kind == "text" or kind == "link":
        text, url = str_of(element.get("text")), str_of(element.get("url"))
        return f"{text} ({url})" if text and url and text != url else text or url
    if kind == "user":
        return "@" + (people.name(element.get("user_id")) or "someone")
    if kind == "channel":
        return "#" + str(element.get("channel_id") or "")
    if kind == "emoji":
        return f":{element.get('name')}:" if isinstance(element.get("name"), str) else ""
    if kind == "broadcast":
        return "@" + str(element.get("range") or "here")
    return ""


def thread_of(raw: Any) -> str | None:
    """The thread a message belongs to, or None for a message outside any thread."""
    if not isinstance(raw, dict) or not isinstance(raw.get("thread_ts"), str):
        return None
    is_parent = raw.get("thread_ts") == raw.get("ts")
    return raw["thread_ts"] if not is_parent or raw.get("reply_count") or raw.get("replies") else None


def conversations(
    channel: Channel, located: Iterable[tuple[str, Any]], people: People, keep_noise: bool = False, where: str = ""
) -> Iterator[Item]:
    """Messages of one channel (a day file, or a batch of the live sync) grouped into conversations."""
    groups: dict[str, list[MessageIn]] = {}
    for location, raw in located:
        if isinstance(raw, Exception):
            yield Problem(location, str(raw))
            continue
        m = to_message(location, raw, people, keep_noise)
        if isinstance(m, Problem):
            yield m
        elif m is not None:
            thread = thread_of(raw)
            key = f"thread:{thread}" if thread else f"day:{m.timestamp:%Y-%m-%d}"
            groups.setdefault(key, []).append(m)
    for key, messages in groups.items():
        kind, _, value = key.partition(":")
        fields: dict[str, Any] = {
            "id": f"slack:{channel.id}:{value}",
            "source": NAME,
            "metadata": {"channel": channel.name, "channel_id": channel.id},
        }
        if kind == "day":
            fields["title"] = f"#{channel.name} {value}"
        else:
            fields["metadata"]["thread_ts"] = value
            parent = next((m for m in messages if m.id == value), None)
            if parent is not None:  # later parts have no parent: the title it gave stays
                fields["title"] = f"#{channel.name}: {_snippet(parent.content)}"
        yield from parts(where or channel.name, fields, messages)


def _snippet(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


# -- the export -----------------------------------------------------------------


def export_roots(tree: Tree) -> list[str]:
    """The folder prefix ('' at the top) of every Slack export inside the tree, outermost ones only:
    a folder of exports may hold a Slack export next to other files, which are not Slack's."""
    roots: list[str] = []
    for rel in sorted(tree.entries, key=len):
        parent, _, base = rel.rpartition("/")
        root = f"{parent}/" if parent else ""
        if base in LISTS and not any(root.startswith(r) for r in roots):
            roots.append(root)
    return roots


def root_of(tree: Tree) -> str | None:
    """The folder prefix of the (outermost) export inside the tree, or None if it holds none."""
    return next(iter(export_roots(tree)), None)


def subtree(tree: Tree, root: str) -> Tree:
    """The files below `root`, by their path from it: one export out of a folder holding more."""
    return Tree(tree.name, {rel[len(root) :]: e for rel, e in tree.entries.items() if rel.startswith(root)})


def read_export(tree: Tree, keep_noise: bool = False) -> Iterator[Item]:
    root = root_of(tree) or ""
    people = People()
    users = tree.entries.get(f"{root}users.json")
    for location, value in records(users) if users else ():
        if isinstance(value, Exception):
            yield Problem(location, f"{value}; authors are shown as Slack user ids")
        else:
            people.add(value)
    channels: dict[str, Channel] = {}
    for file, kind in LISTS.items():
        entry = tree.entries.get(root + file)
        for location, value in records(entry) if entry else ():
            if isinstance(value, Exception):
                yield Problem(location, str(value))
            elif isinstance(value, dict) and isinstance(value.get("id"), str):
                channels[value.get("name") or value["id"]] = Channel(value["id"], _channel_name(value, kind, people))
    days: dict[str, list[Entry]] = {}
    for rel, entry in sorted(tree.entries.items()):
        m = DAY_FILE.match(rel[len(root) :]) if rel.startswith(root) else None
        if m and "/" not in m["dir"]:
            days.setdefault(m["dir"], []).append(entry)
    for folder, entries in days.items():
        channel = channels.get(folder) or Channel(folder, folder)
        for entry in entries:
            yield from conversations(channel, records(entry), people, keep_noise, entry.name)


def _channel_name(value: dict, kind: str, people: People) -> str:
    if kind == "dm":
        members = [people.name(u) or str(u) for u in value.get("members") or []]
        return "dm " + ", ".join(members) if members else value["id"]
    return str(value.get("name") or value["id"])
