// The filter box of the runs table: MLflow's grammar, completion of entity prefixes, keys,
// attributes and operators, and the server's syntax error shown under the box with a caret.
import { useMemo, useRef, useState } from "preact/hooks";
import type { ApiError, RunKeys } from "../api";

const ENTITIES = ["metrics.", "params.", "tags.", "attributes.", "datasets."];
const ATTRIBUTES = ["status", "run_name", "run_id", "user_id", "start_time", "end_time", "artifact_uri"];
const OPERATORS = ["=", "!=", ">", ">=", "<", "<=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"];
const DATASET_FIELDS = ["name", "digest", "context"];

interface Suggestion {
  label: string;
  insert: string;
  kind: string;
}

/** A key as the grammar wants it: bare when it is plain dotted words, else in backquotes. */
export function quoteKey(key: string): string {
  return /^\w+(\.\w+)*$/.test(key) ? key : "`" + key.replace(/`/g, "``") + "`";
}

function suggestionsFor(text: string, caret: number, keys: RunKeys | null): { from: number; items: Suggestion[] } {
  const before = text.slice(0, caret);
  const keyed = /(?:^|\s)(metrics|metric|m|params|param|p|tags|tag|t|attributes|attr|datasets|dataset)\.(`[^`]*|[\w.\-/]*)$/i.exec(before);
  if (keyed) {
    const entity = (keyed[1] as string).toLowerCase();
    const partial = (keyed[2] as string).replace(/^`/, "").toLowerCase();
    const from = caret - (keyed[2] as string).length;
    let pool: string[] = [];
    let kind = entity;
    if (entity.startsWith("m")) [pool, kind] = [keys?.metrics ?? [], "metric"];
    else if (entity.startsWith("p")) [pool, kind] = [keys?.params ?? [], "param"];
    else if (entity.startsWith("t")) [pool, kind] = [keys?.tags ?? [], "tag"];
    else if (entity.startsWith("a")) [pool, kind] = [ATTRIBUTES, "attribute"];
    else [pool, kind] = [DATASET_FIELDS, "dataset"];
    const items = pool
      .filter((k) => k.toLowerCase().includes(partial))
      .slice(0, 50)
      .map((k) => ({ label: k, insert: `${quoteKey(k)} `, kind }));
    return { from, items };
  }
  const word = /(?:^|\s)([\w`.]*)$/.exec(before);
  const partial = (word?.[1] ?? "").toLowerCase();
  const from = caret - (word?.[1] ?? "").length;
  const clauses = before.split(/\band\b/i);
  const current = (clauses[clauses.length - 1] ?? "").trim();
  // After an identifier: operators; after a value (or at the start): identifiers.
  const afterIdentifier = /^[\w`.\-/ ]+$/.test(current) && current.split(/\s+/).length === 1 && partial === "";
  if (afterIdentifier) {
    return { from, items: OPERATORS.map((op) => ({ label: op, insert: `${op} `, kind: "operator" })) };
  }
  const complete = /('[^']*'|"[^"]*"|[\d.]+|\)|NULL)\s*$/i.test(before.trimEnd()) && before.trim() !== "";
  if (complete && partial === "") return { from, items: [{ label: "and", insert: "and ", kind: "keyword" }] };
  const items = [...ENTITIES, ...ATTRIBUTES]
    .filter((e) => e.toLowerCase().startsWith(partial))
    .map((e) => ({ label: e, insert: e.endsWith(".") ? e : `${e} `, kind: e.endsWith(".") ? "entity" : "attribute" }));
  return { from, items };
}

export interface FilterBoxProps {
  value: string;
  keys: RunKeys | null;
  error: ApiError | null;
  onSubmit: (value: string) => void;
}

export function FilterBox({ value, keys, error, onSubmit }: FilterBoxProps) {
  const [draft, setDraft] = useState(value);
  const [caret, setCaret] = useState(value.length);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const [lastValue, setLastValue] = useState(value);
  const input = useRef<HTMLInputElement>(null);
  if (value !== lastValue) {
    setLastValue(value);
    setDraft(value);
  }
  const { from, items } = useMemo(() => suggestionsFor(draft, caret, keys), [draft, caret, keys]);
  const shown = open ? items : [];

  const accept = (s: Suggestion) => {
    const next = draft.slice(0, from) + s.insert + draft.slice(caret);
    const position = from + s.insert.length;
    setDraft(next);
    setCaret(position);
    setActive(0);
    requestAnimationFrame(() => {
      input.current?.focus();
      input.current?.setSelectionRange(position, position);
    });
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (shown.length && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      setActive((a) => (a + (e.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length);
    } else if (shown.length && e.key === "Tab") {
      e.preventDefault();
      accept(shown[Math.min(active, shown.length - 1)] as Suggestion);
    } else if (e.key === "Enter") {
      e.preventDefault();
      setOpen(false);
      onSubmit(draft.trim());
    } else if (e.key === "Escape") {
      setOpen(false);
    }
  };

  const filterError = error && error.position !== null && error.subject === "filter" ? error : null;
  return (
    <div class="filter-box">
      <div class="filter-row">
        <input
          ref={input}
          class={`filter-input${error ? " invalid" : ""}`}
          type="text"
          spellcheck={false}
          placeholder="Filter: metrics.val_loss < 0.3 and params.optimizer = 'adam'   (Tab completes, Enter applies)"
          value={draft}
          onInput={(e) => {
            const target = e.currentTarget;
            setDraft(target.value);
            setCaret(target.selectionStart ?? target.value.length);
            setOpen(true);
            setActive(0);
          }}
          onKeyDown={onKeyDown}
          onKeyUp={(e) => setCaret(e.currentTarget.selectionStart ?? 0)}
          onClick={(e) => {
            setCaret(e.currentTarget.selectionStart ?? 0);
            setOpen(true);
          }}
          onBlur={() => window.setTimeout(() => setOpen(false), 150)}
          aria-label="Filter runs"
        />
        <button type="button" onClick={() => onSubmit(draft.trim())}>
          Apply
        </button>
        {value && (
          <button type="button" class="secondary" onClick={() => onSubmit("")}>
            Clear
          </button>
        )}
      </div>
      {shown.length > 0 && (
        <ul class="suggestions" role="listbox">
          {shown.map((s, i) => (
            <li
              key={`${s.kind}:${s.label}`}
              class={i === active ? "active" : ""}
              role="option"
              onMouseDown={(e) => {
                e.preventDefault();
                accept(s);
              }}
            >
              <span class="suggestion-label">{s.label}</span>
              <span class="suggestion-kind">{s.kind}</span>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <div class="filter-error" role="alert">
          <div class="filter-error-message">{filterError ? filterError.detail : error.message}</div>
          {filterError && (
            <pre class="filter-caret">
              {(filterError.text ?? "") + "\n" + " ".repeat(filterError.position ?? 0) + "^"}
            </pre>
          )}
        </div>
      )}
    </div>
  );
}
