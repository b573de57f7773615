// Choose the runs table's columns: params, tags, and metrics by last, min or max value.
import { useState } from "preact/hooks";
import type { Agg, Column, ColumnKind, RunKeys } from "../api";

export function columnId(c: Column): string {
  return `${c.kind}:${c.agg}:${c.key}`;
}

export function parseColumn(text: string): Column | null {
  const [kind, agg, ...rest] = text.split(":");
  const key = rest.join(":");
  if (!key || !["param", "metric", "tag"].includes(kind ?? "") || !["last", "min", "max"].includes(agg ?? "")) return null;
  return { kind: kind as ColumnKind, agg: agg as Agg, key };
}

export function columnLabel(c: Column): string {
  if (c.kind === "metric") return c.agg === "last" ? c.key : `${c.key} (${c.agg})`;
  return c.key;
}

interface Props {
  keys: RunKeys | null;
  columns: Column[];
  onChange: (columns: Column[]) => void;
}

export function ColumnPicker({ keys, columns, onChange }: Props) {
  const [open, setOpen] = useState(false);
  const [search, setSearch] = useState("");
  const chosen = new Set(columns.map(columnId));
  const toggle = (c: Column) => {
    const id = columnId(c);
    onChange(chosen.has(id) ? columns.filter((x) => columnId(x) !== id) : [...columns, c]);
  };
  const match = (k: string) => k.toLowerCase().includes(search.toLowerCase());
  const section = (title: string, kind: ColumnKind, list: string[]) => (
    <div class="picker-section">
      <h4>{title}</h4>
      {list.filter(match).length === 0 && <div class="muted">none</div>}
      {list.filter(match).map((key) => (
        <div class="picker-row" key={`${kind}:${key}`}>
          <span class="picker-key" title={key}>
            {key}
          </span>
          {(kind === "metric" ? (["last", "min", "max"] as Agg[]) : (["last"] as Agg[])).map((agg) => (
            <label key={agg} class="picker-check">
              <input
                type="checkbox"
                checked={chosen.has(columnId({ kind, key, agg }))}
                onChange={() => toggle({ kind, key, agg })}
                data-column={columnId({ kind, key, agg })}
              />
              {kind === "metric" ? agg : "show"}
            </label>
          ))}
        </div>
      ))}
    </div>
  );
  return (
    <div class="column-picker">
      <button type="button" class="secondary" onClick={() => setOpen(!open)} aria-expanded={open}>
        Columns ({columns.length})
      </button>
      {open && (
        <div class="picker-panel">
          <div class="picker-top">
            <input
              type="search"
              placeholder="Search keys"
              value={search}
              onInput={(e) => setSearch(e.currentTarget.value)}
            />
            <button type="button" class="secondary" onClick={() => onChange([])}>
              None
            </button>
            <button type="button" onClick={() => setOpen(false)}>
              Done
            </button>
          </div>
          <div class="picker-body">
            {section("Metrics", "metric", (keys?.metrics ?? []).filter((k) => !k.startsWith("system/")))}
            {section("System metrics", "metric", (keys?.metrics ?? []).filter((k) => k.startsWith("system/")))}
            {section("Params", "param", keys?.params ?? [])}
            {section("Tags", "tag", (keys?.tags ?? []).filter((k) => !k.startsWith("mlflow.")))}
          </div>
        </div>
      )}
    </div>
  );
}
