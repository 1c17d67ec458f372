// Marks the query's words inside a text. The server's full-text arm stems words,
// so "skiing" should light up "ski" and "skis" too: terms are matched by a
// crude stem, as word prefixes.

import type { ReactNode } from "react";

const STOPWORDS = new Set(
  "a an and are as at be but by did do does for from had has have he her his how i in is it its me my no not of on or our she so that the their them they this to was we were what when where which who why will with would you your".split(
    " ",
  ),
);

export function queryTerms(query: string): string[] {
  const words = query.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const stems = words
    .filter((w) => !STOPWORDS.has(w) && (w.length > 1 || /\d/.test(w)))
    .map((w) => (w.length > 5 ? w.replace(/(ing|ed|es|s)$/, "") : w.length > 3 ? w.replace(/s$/, "") : w));
  return [...new Set(stems)];
}

function pattern(terms: string[]): RegExp | null {
  if (!terms.length) return null;
  const escaped = terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).sort((a, b) => b.length - a.length);
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${escaped.join("|")})[\\p{L}\\p{N}]*`, "giu");
}

/** How many distinct terms occur in the text: ranks turns within a hit. */
export function countMatches(text: string, terms: string[]): number {
  const re = pattern(terms);
  if (!re) return 0;
  const found = new Set<string>();
  for (const m of text.matchAll(re)) {
    const term = terms.find((t) => m[0].toLowerCase().startsWith(t));
    if (term) found.add(term);
  }
  return found.size;
}

export function Highlighted({ text, terms }: { text: string; terms: string[] }): ReactNode {
  const re = pattern(terms);
  if (!re) return text;
  const parts: ReactNode[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    const at = m.index ?? 0;
    if (at > last) parts.push(text.slice(last, at));
    parts.push(<mark key={at}>{m[0]}</mark>);
    last = at + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return <>{parts}</>;
}
