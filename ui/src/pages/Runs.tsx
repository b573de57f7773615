// The runs table of an experiment: virtualised rows, server-side filter/sort/paging, chosen
// columns, runs grouped under their parent, selection for the compare view. The URL holds the
// filter, order, columns, grouping and selection.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, ApiError, type Column, type Experiment, type RunKeys, type RunRow, type RunsQuery } from "../api";
import { ColumnPicker, columnId, columnLabel, parseColumn } from "../components/ColumnPicker";
import { FilterBox, quoteKey } from "../components/FilterBox";
import { Status } from "../components/Status";
import { fmtDuration, fmtNumber, fmtTime, runDuration, shortId } from "../format";
import { href, navigate, updateParams } from "../router";
import { registerView, type ViewProps } from "../views";

const ROW_HEIGHT = 32;
const PAGE = 200;
const OVERSCAN = 10;
const DEFAULT_ORDER = "attributes.start_time DESC";

interface Line {
  row: RunRow;
  depth: number;
}

interface Fixed {
  id: string;
  label: string;
  width: number;
  order?: string;
}

const FIXED: Fixed[] = [
  { id: "name", label: "Run", width: 260, order: "attributes.run_name" },
  { id: "status", label: "Status", width: 96, order: "attributes.status" },
  { id: "start", label: "Started", width: 160, order: "attributes.start_time" },
  { id: "duration", label: "Duration", width: 90 },
  { id: "dataset", label: "Dataset", width: 150 },
  { id: "parent", label: "Parent", width: 150 },
];
const SELECT_WIDTH = 36;

export function orderOf(c: Column): string {
  if (c.kind === "metric") return `metrics.${quoteKey(c.key)}${c.agg === "last" ? "" : `.${c.agg}`}`;
  return `${c.kind}s.${quoteKey(c.key)}`;
}

function columnWidth(c: Column): number {
  return Math.min(220, Math.max(96, columnLabel(c).length * 8 + 28));
}

function defaultColumns(keys: RunKeys): Column[] {
  const metrics = keys.metrics.filter((k) => !k.startsWith("system/")).slice(0, 4);
  const params = keys.params.slice(0, 4);
  return [
    ...metrics.map((key) => ({ kind: "metric" as const, key, agg: "last" as const })),
    ...params.map((key) => ({ kind: "param" as const, key, agg: "last" as const })),
  ];
}

function RunsPage({ args, params }: ViewProps) {
  const experimentId = args.id as string;
  const filter = params.get("filter") ?? "";
  const order = params.get("order") ?? DEFAULT_ORDER;
  const flat = params.get("flat") === "1";
  const colParams = params.getAll("col");
  const explicitColumns = colParams.length > 0;
  const selected = useMemo(() => new Set((params.get("sel") ?? "").split(",").filter(Boolean)), [params.get("sel")]);

  const [experiment, setExperiment] = useState<Experiment | null>(null);
  const [keys, setKeys] = useState<RunKeys | null>(null);
  const [lines, setLines] = useState<Line[]>([]);
  const [token, setToken] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);
  const body = useRef<HTMLDivElement>(null);
  const generation = useRef(0);

  const columns: Column[] | null = useMemo(() => {
    if (explicitColumns) return colParams.map(parseColumn).filter((c): c is Column => c !== null);
    return keys ? defaultColumns(keys) : null;
  }, [colParams.join("\n"), keys]);
  const grouped = !flat && filter === "";

  useEffect(() => {
    api.experiment(experimentId).then(setExperiment, () => setExperiment(null));
    api.keys([experimentId]).then(setKeys, () => setKeys({ params: [], metrics: [], tags: [] }));
  }, [experimentId]);

  const query = (extra: Partial<RunsQuery>): RunsQuery => ({
    experiment_ids: [experimentId],
    filter,
    order_by: order ? [order] : [],
    columns: columns ?? [],
    max_results: PAGE,
    top_level_only: grouped,
    ...extra,
  });

  const loadPage = (pageToken: string | null, reset: boolean) => {
    if (columns === null) return;
    const mine = reset ? ++generation.current : generation.current;
    setLoading(true);
    api.runs(query({ page_token: pageToken })).then(
      (page) => {
        if (mine !== generation.current) return;
        const fresh = page.runs.map((row) => ({ row, depth: 0 }));
        setLines((old) => (reset ? fresh : [...old, ...fresh]));
        setToken(page.next_page_token);
        setDone(page.next_page_token === null);
        setError(null);
        setLoading(false);
        if (reset) performance.mark("runs-first-rows");
      },
      (e: ApiError) => {
        if (mine !== generation.current) return;
        setError(e);
        setLines(reset ? [] : lines);
        setLoading(false);
        setDone(true);
      },
    );
  };

  useEffect(() => {
    setExpanded(new Set());
    setScrollTop(0);
    if (body.current) body.current.scrollTop = 0;
    loadPage(null, true);
  }, [experimentId, filter, order, grouped, columns && JSON.stringify(columns)]);

  useEffect(() => {
    const el = body.current;
    if (!el) return undefined;
    const observer = new ResizeObserver(() => setViewport(el.clientHeight));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(lines.length, Math.ceil((scrollTop + viewport) / ROW_HEIGHT) + OVERSCAN);
  useEffect(() => {
    if (!loading && !done && token && last >= lines.length - OVERSCAN * 3) loadPage(token, false);
  }, [last, lines.length, loading, done, token]);

  const toggleExpand = (row: RunRow) => {
    const next = new Set(expanded);
    if (next.has(row.run_id)) {
      next.delete(row.run_id);
      setLines((old) => old.filter((l) => l.depth === 0 || l.row.parent_run_id !== row.run_id));
      setExpanded(next);
      return;
    }
    next.add(row.run_id);
    setExpanded(next);
    api.runs(query({ parent_run_id: row.run_id, top_level_only: false, max_results: 1000 })).then((page) => {
      setLines((old) => {
        const at = old.findIndex((l) => l.row.run_id === row.run_id);
        if (at < 0) return old;
        const children = page.runs.map((r) => ({ row: r, depth: 1 }));
        return [...old.slice(0, at + 1), ...children, ...old.slice(at + 1)];
      });
    });
  };

  const setSelection = (next: Set<string>) => updateParams({ sel: [...next].join(",") || null });
  const toggleSelect = (runId: string) => {
    const next = new Set(selected);
    if (next.has(runId)) next.delete(runId);
    else next.add(runId);
    setSelection(next);
  };

  const sortBy = (clause: string) => {
    const [current, direction] = order.split(/\s+(?=(?:ASC|DESC)$)/i);
    const descending = current === clause ? !/DESC$/i.test(direction ?? "") : true;
    updateParams({ order: `${clause} ${descending ? "DESC" : "ASC"}` });
  };
  const sortMark = (clause: string | undefined) => {
    if (!clause) return "";
    const [current, direction] = order.split(/\s+(?=(?:ASC|DESC)$)/i);
    if (current !== clause) return "";
    return /DESC/i.test(direction ?? "ASC") ? " ▼" : " ▲";
  };

  const cols = columns ?? [];
  const widths = [SELECT_WIDTH, ...FIXED.map((f) => f.width), ...cols.map(columnWidth)];
  const template = widths.map((w) => `${w}px`).join(" ");
  const totalWidth = widths.reduce((a, b) => a + b, 0);

  const cell = (line: Line, fixed: Fixed) => {
    const r = line.row;
    switch (fixed.id) {
      case "name":
        return (
          <div class="cell name-cell" style={{ paddingLeft: `${8 + line.depth * 20}px` }}>
            {line.depth === 0 && grouped && r.child_count > 0 ? (
              <button type="button" class="expander" onClick={() => toggleExpand(r)} aria-label="Show child runs">
                {expanded.has(r.run_id) ? "▾" : "▸"} {r.child_count}
              </button>
            ) : (
              <span class="expander-space" />
            )}
            <a href={href(`/runs/${r.run_id}`)} class="run-link" title={r.run_name}>
              {r.run_name || shortId(r.run_id)}
            </a>
          </div>
        );
      case "status":
        return (
          <div class="cell">
            <Status status={r.status} />
          </div>
        );
      case "start":
        return <div class="cell">{fmtTime(r.start_time)}</div>;
      case "duration":
        return <div class="cell num">{fmtDuration(runDuration(r.start_time, r.end_time, r.status))}</div>;
      case "dataset": {
        const text = r.datasets.map((d) => `${d.name}@${d.digest.slice(0, 8)}${d.context ? ` (${d.context})` : ""}`).join(", ");
        return (
          <div class="cell" title={text}>
            {text}
          </div>
        );
      }
      default:
        return (
          <div class="cell">
            {r.parent_run_id ? (
              <a href={href(`/runs/${r.parent_run_id}`)} title={r.parent_run_id}>
                {r.parent_run_name || shortId(r.parent_run_id)}
              </a>
            ) : null}
          </div>
        );
    }
  };

  const compare = () => navigate("/compare", { runs: [...selected].join(",") });
  return (
    <div class="page runs-page">
      <div class="page-head">
        <h1>
          <a href={href("/")}>Experiments</a> / <span class="experiment-name">{experiment?.name ?? experimentId}</span>
        </h1>
      </div>
      <FilterBox
        value={filter}
        keys={keys}
        error={error}
        onSubmit={(value) => updateParams({ filter: value || null, sel: params.get("sel") }, false)}
      />
      <div class="toolbar">
        <ColumnPicker
          keys={keys}
          columns={cols}
          onChange={(next) => {
            const { path, params: p } = { path: `/experiments/${experimentId}`, params: new URLSearchParams(params) };
            p.delete("col");
            for (const c of next) p.append("col", columnId(c));
            if (next.length === 0) p.append("col", "none::");
            navigate(path, p, true);
          }}
        />
        <label class="toggle">
          <input type="checkbox" checked={!flat} onChange={() => updateParams({ flat: flat ? null : "1" })} />
          Group under parent runs
        </label>
        {filter && !flat && <span class="muted">(grouping is off while a filter is set)</span>}
        <span class="spacer" />
        <span class="muted run-count">
          {lines.length}
          {done ? "" : "+"} runs{loading ? " …" : ""}
        </span>
        {selected.size > 0 && (
          <button type="button" class="secondary" onClick={() => setSelection(new Set())}>
            Clear selection
          </button>
        )}
        <button type="button" disabled={selected.size < 2} onClick={compare} class="compare-button">
          Compare {selected.size} runs
        </button>
      </div>
      <div
        class="table"
        ref={body}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
        role="grid"
        aria-rowcount={lines.length}
      >
        <div class="thead" style={{ gridTemplateColumns: template, width: `${totalWidth}px` }} role="row">
          <div class="cell" />
          {FIXED.map((f) => (
            <div
              key={f.id}
              class={`cell head${f.order ? " sortable" : ""}`}
              onClick={f.order ? () => sortBy(f.order as string) : undefined}
              role="columnheader"
            >
              {f.label}
              {sortMark(f.order)}
            </div>
          ))}
          {cols.map((c) => (
            <div
              key={columnId(c)}
              class={`cell head sortable kind-${c.kind}`}
              title={`${c.kind} ${c.key}${c.kind === "metric" ? ` (${c.agg})` : ""} — click to sort`}
              onClick={() => sortBy(orderOf(c))}
              role="columnheader"
              data-column={columnId(c)}
            >
              {columnLabel(c)}
              {sortMark(orderOf(c))}
            </div>
          ))}
        </div>
        <div class="tbody" style={{ height: `${lines.length * ROW_HEIGHT}px`, width: `${totalWidth}px` }}>
          {lines.slice(first, last).map((line, i) => {
            const r = line.row;
            return (
              <div
                key={r.run_id}
                class={`row${selected.has(r.run_id) ? " selected" : ""}${line.depth ? " child" : ""}`}
                style={{ top: `${(first + i) * ROW_HEIGHT}px`, gridTemplateColumns: template }}
                role="row"
                data-run-id={r.run_id}
              >
                <div class="cell">
                  <input
                    type="checkbox"
                    checked={selected.has(r.run_id)}
                    onChange={() => toggleSelect(r.run_id)}
                    aria-label="Select run"
                  />
                </div>
                {FIXED.map((f) => (
                  <div key={f.id} style={{ display: "contents" }}>
                    {cell(line, f)}
                  </div>
                ))}
                {r.values.map((v, j) => (
                  <div key={j} class={`cell ${typeof v === "number" ? "num" : ""}`} title={v === null ? "" : String(v)}>
                    {cols[j]?.kind === "metric" ? fmtNumber(v) : (v ?? "")}
                  </div>
                ))}
              </div>
            );
          })}
        </div>
        {done && lines.length === 0 && !error && <div class="empty">No runs match.</div>}
      </div>
    </div>
  );
}

registerView({ name: "runs", pattern: "/experiments/:id", component: RunsPage });
