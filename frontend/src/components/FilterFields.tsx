// The filters search and ask share: conversation, author, source and a time range.
// Times go to the server as typed ("last week", "in March 2024", "2024-03-01"), with
// the browser's time zone: the server reads them and echoes the absolute times back.

import type { Filters } from "../api/types";

export interface FilterValues {
  conversation: string;
  author: string;
  source: string;
  /** As typed: a date (YYYY-MM-DD) or words, read in the browser's time zone. */
  since: string;
  until: string;
}

export const NO_FILTERS: FilterValues = { conversation: "", author: "", source: "", since: "", until: "" };

export function activeFilterCount(values: FilterValues): number {
  return Object.values(values).filter((v) => v.trim() !== "").length;
}

/** The browser's IANA time zone (e.g. Europe/Paris), for times given in words or as dates. */
export function browserTimeZone(): string | undefined {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}

/** The request fields for these filters; a date covers its whole day ("From" its start, "To" its end). */
export function toFilters(values: FilterValues): Filters {
  const filters: Filters = {};
  if (values.conversation.trim()) filters.conversation_id = values.conversation.trim();
  if (values.author.trim()) filters.author = values.author.trim();
  if (values.source.trim()) filters.source = values.source.trim();
  if (values.since.trim()) filters.since = values.since.trim();
  if (values.until.trim()) filters.until = values.until.trim();
  if (filters.since || filters.until) {
    const zone = browserTimeZone();
    if (zone) filters.timezone = zone;
  }
  return filters;
}

interface Props {
  values: FilterValues;
  onChange: (values: FilterValues) => void;
  idPrefix: string;
}

export function FilterFields({ values, onChange, idPrefix }: Props) {
  const field = (name: keyof FilterValues, label: string, type = "text", placeholder = "") => {
    const id = `${idPrefix}-${name}`;
    return (
      <div className="field">
        <label htmlFor={id}>{label}</label>
        <input
          id={id}
          type={type}
          value={values[name]}
          placeholder={placeholder}
          onChange={(e) => onChange({ ...values, [name]: e.target.value })}
        />
      </div>
    );
  };
  return (
    <div className="filters">
      {field("conversation", "Conversation", "text", "id or uuid")}
      {field("author", "Author", "text", "e.g. kate")}
      {field("source", "Source", "text", "e.g. slack")}
      {field("since", "From", "text", "e.g. last week, 2024-03-01")}
      {field("until", "To", "text", "e.g. yesterday")}
    </div>
  );
}
