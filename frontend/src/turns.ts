// A search hit's text is a window of turns, one per message, each line
// labelled by the server as "Speaker (time): content", the time in UTC and
// optional. The time has been written as "2023-12-29 22:45" and as "Friday 29
// December 2023, 22:45"; both are read, anything else is kept as written.
// Splitting the text back into turns lets each one link to its message.

import type { Hit } from "./api/types";

export interface HitTurn {
  /** The message this turn is, when the text could be matched to message_ids. */
  messageId: string | null;
  speaker: string | null;
  /** ISO time (UTC) from the turn's label, when it could be read. */
  time: string | null;
  /** The label's time as the server wrote it, when it could not be read. */
  timeText?: string;
  text: string;
}

/** Speakers the server writes when a message has no author. */
const ROLE_SPEAKERS = new Set(["user", "assistant", "system", "tool", "unknown"]);
const MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];
const TIME_LABEL = / \(([^()\n]{1,60})\): /;

export function parseLabelTime(text: string): string | null {
  const pad = (n: string | number) => String(n).padStart(2, "0");
  let m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})$/.exec(text);
  if (m) return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00Z`;
  m = /^(?:[A-Za-z]+,? )?(\d{1,2}) ([A-Za-z]+) (\d{4}),? (\d{1,2}):(\d{2})$/.exec(text);
  const month = m ? MONTHS.indexOf(m[2]!.toLowerCase()) : -1;
  if (m && month >= 0) return `${m[3]}-${pad(month + 1)}-${pad(m[1]!)}T${pad(m[4]!)}:${m[5]}:00Z`;
  return null;
}

/** "Speaker (time): " at the start of a line, for a speaker we can trust. */
function readLabel(line: string, speakers: string[], first: boolean) {
  // Known authors first (longest first: "Sam (customer)" before "Sam").
  for (const speaker of speakers) {
    if (!line.startsWith(speaker)) continue;
    const rest = line.slice(speaker.length);
    if (rest.startsWith(": ")) return { speaker, timeText: null, length: speaker.length + 2 };
    const time = TIME_LABEL.exec(rest);
    if (time && time.index === 0) return { speaker, timeText: time[1]!, length: speaker.length + time[0].length };
  }
  // Otherwise a role, or any label carrying a time; any label at all on the first line.
  const generic = /^([^\n:]{1,256}?)(?: \(([^()\n]{1,60})\))?: /.exec(line);
  if (!generic) return null;
  const [label, speaker, timeText] = generic;
  if (first || ROLE_SPEAKERS.has(speaker!.toLowerCase()) || (timeText && parseLabelTime(timeText))) {
    return { speaker: speaker!, timeText: timeText ?? null, length: label.length };
  }
  return null;
}

export function splitHit(hit: Hit): HitTurn[] {
  const speakers = [...hit.authors].sort((a, b) => b.length - a.length);
  const turns: HitTurn[] = [];
  for (const line of hit.text.split("\n")) {
    const label = readLabel(line, speakers, turns.length === 0);
    const last = turns[turns.length - 1];
    if (label) {
      const time = label.timeText ? parseLabelTime(label.timeText) : null;
      turns.push({
        messageId: null,
        speaker: label.speaker,
        time,
        ...(label.timeText && !time ? { timeText: label.timeText } : {}),
        text: line.slice(label.length),
      });
    } else if (last) {
      // No label: the previous message goes on (its content has line breaks).
      last.text += `\n${line}`;
    } else {
      turns.push({ messageId: null, speaker: null, time: null, text: line });
    }
  }
  if (turns.length === hit.message_ids.length) {
    turns.forEach((turn, i) => (turn.messageId = hit.message_ids[i] ?? null));
  } else if (hit.message_ids.length === 1) {
    // One long message split over several chunks: every part is that message.
    turns.forEach((turn) => (turn.messageId = hit.message_ids[0] ?? null));
  }
  return turns;
}

/** Link to one message inside its conversation's transcript. */
export function messageLink(conversationId: string, messageId: string | null | undefined, highlight: string[] = []): string {
  const base = `/conversations/${encodeURIComponent(conversationId)}`;
  const search = highlight.length > 1 ? `?highlight=${encodeURIComponent(highlight.join(","))}` : "";
  return messageId ? `${base}${search}#m-${encodeURIComponent(messageId)}` : base;
}
