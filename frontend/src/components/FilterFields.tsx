// The filters search and ask share: conversation, author, source and a date range.

import type { Filters } from "../api/types";

export interface FilterValues {
  conversation: string;
  author: string;
  source: string;
  /** YYYY-MM-DD from a date input, in the browser's time zone. */
  since: string;
  until: string;
}

export const NO_FILTERS: FilterValues = { conversation: "", author: "", source: "", since: "", until: "" };

export function activeFilterCount(values: FilterValues): number {
  return Object.values(values).filter((v) => v.trim() !== "").length;
}

/** The request fields for these filters; a date range covers whole days. */
export function toFilters(values: FilterValues): Filters {
  const filters: Filters = {};
  if (values.conversation.trim()) filters.conversation_id = values.conversation.trim();
  if (values.author.trim()) filters.author = values.author.trim();
  if (values.source.trim()) filters.source = values.source.trim();
  if (values.since) filters.since = new Date(`${values.since}T00:00:00`).toISOString();
  if (values.until) filters.until = new Date(`${values.until}T23:59:59.999`).toISOString();
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
      {field("author", "Author", "text", "e.g. Kate")}
      {field("source", "Source", "text", "e.g. slack")}
      {field("since", "From", "date")}
      {field("until", "To", "date")}
    </div>
  );
}
