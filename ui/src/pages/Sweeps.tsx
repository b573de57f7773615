// Sweeps: the list, and one sweep's page — settings and progress, the best trial, optimisation
// history, intermediate values (pruned trials dashed), parallel coordinates over the params and
// the metric, parameter importance and the trials table. Polls while the sweep is not finished.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, type HistoryPoint, type IntermediateSeries, type SweepInfo, type TrialInfo } from "../api";
import { Chart, type ChartSeries } from "../components/Chart";
import { ParallelCoords } from "../components/ParallelCoords";
import type { Dimension } from "../components/plotting";
import { fmtAgo, fmtDuration, fmtNumber, fmtTime, seriesColor, shortId } from "../format";
import { href } from "../router";
import { registerView, type ViewProps } from "../views";

const POLL_MS = 3000;
const STATES = ["COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"] as const;
const EVALUATORS = ["ped_anova", "fanova", "mdi"] as const;

function Counts({ counts }: { counts: Record<string, number> }) {
  return (
    <span class="sweep-counts">
      {STATES.filter((s) => counts[s]).map((s) => (
        <span key={s} class={`chip state-${s.toLowerCase()}`} data-state={s}>
          {counts[s]} {s.toLowerCase()}
        </span>
      ))}
    </span>
  );
}

function SweepsPage() {
  const [sweeps, setSweeps] = useState<SweepInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.sweeps().then(setSweeps, (e: Error) => setError(e.message));
  }, []);
  return (
    <div class="page sweeps-page">
      <div class="page-head">
        <h1>Sweeps</h1>
      </div>
      {error && <div class="error">{error}</div>}
      {sweeps === null && !error && <div class="muted">Loading…</div>}
      {sweeps !== null && sweeps.length === 0 && (
        <div class="muted">
          No sweeps yet: <span class="mono">runbase sweep run sweep.yaml</span> starts one.
        </div>
      )}
      {sweeps !== null && sweeps.length > 0 && (
        <table class="simple sweeps-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Method</th>
              <th>Metric</th>
              <th>Trials</th>
              <th class="num">Best</th>
              <th>State</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {sweeps.map((s) => (
              <tr key={s.sweep_id} data-sweep-id={s.sweep_id}>
                <td>
                  <a href={href(`/sweeps/${s.sweep_id}`)}>{s.name}</a>
                </td>
                <td>{s.method}</td>
                <td>
                  {s.metric} <span class="muted">({s.goal})</span>
                </td>
                <td>
                  <Counts counts={s.counts} />
                </td>
                <td class="num">{fmtNumber(s.best?.value ?? null)}</td>
                <td>{s.finished ? "finished" : <span class="status status-running">RUNNING</span>}</td>
                <td title={fmtTime(s.created)}>{fmtAgo(s.created)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

interface SweepData {
  sweep: SweepInfo;
  trials: TrialInfo[];
  history: HistoryPoint[];
  intermediate: IntermediateSeries[];
}

async function loadSweep(sweepId: string): Promise<SweepData> {
  const [detail, history, intermediate] = await Promise.all([
    api.sweep(sweepId),
    api.sweepHistory(sweepId),
    api.sweepIntermediate(sweepId),
  ]);
  return { ...detail, history: history.points, intermediate };
}

/** From the best (0) to the worst (1) finished value: dark to light blue. */
function valueColor(position: number | null): string {
  if (position === null) return "#bbb";
  return `hsl(215, 75%, ${(28 + 45 * position).toFixed(0)}%)`;
}

function HistoryChart({ points, metric }: { points: HistoryPoint[]; metric: string }) {
  const series = useMemo<ChartSeries[]>(() => {
    const xs = points.map((p) => p.number);
    const only = (state: string) => points.map((p) => (p.state === state ? p.value : null));
    return [
      { label: "complete", color: "#0b62d6", xs, ys: only("COMPLETE"), markers: true },
      { label: "pruned", color: "#9aa4af", xs, ys: only("PRUNED"), markers: true },
      { label: "best so far", color: "#c77d00", xs, ys: points.map((p) => p.best), emphasis: true },
    ];
  }, [points]);
  return <Chart title={`${metric} by trial`} series={series} xLabel="trial" />;
}

function IntermediateChart({ trials, metric, best }: { trials: IntermediateSeries[]; metric: string; best: number | null }) {
  const series = useMemo<ChartSeries[]>(
    () =>
      trials
        .filter((t) => t.steps.length > 0)
        .map((t, i) => ({
          label: `#${t.number}${t.pruned ? " pruned" : ""}`,
          color: t.pruned ? "#9aa4af" : seriesColor(i),
          xs: t.steps,
          ys: t.values,
          dashed: t.pruned,
          emphasis: t.number === best,
        })),
    [trials, best],
  );
  if (series.length === 0) return <div class="muted">No intermediate values reported yet.</div>;
  return <Chart title={`${metric} reported during each trial`} series={series} />;
}

function Importance({ sweepId, refresh }: { sweepId: string; refresh: number }) {
  const [evaluator, setEvaluator] = useState<string>("ped_anova");
  const [values, setValues] = useState<Record<string, number> | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setError(null);
    api.sweepImportance(sweepId, evaluator).then(setValues, (e: Error) => setError(e.message));
  }, [sweepId, evaluator, refresh]);
  const entries = Object.entries(values ?? {}).sort((a, b) => b[1] - a[1]);
  return (
    <section class="card sweep-importance">
      <div class="card-head">
        <h3>Parameter importance</h3>
        <label>
          evaluator{" "}
          <select class="importance-evaluator" value={evaluator} onChange={(e) => setEvaluator(e.currentTarget.value)}>
            {EVALUATORS.map((e) => (
              <option key={e} value={e}>
                {e}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && <div class="error">{error}</div>}
      {values !== null && entries.length === 0 && !error && (
        <div class="muted">Not enough completed trials to tell yet.</div>
      )}
      <div class="bars">
        {entries.map(([param, share]) => (
          <div class="bar-row" key={param}>
            <span class="bar-label mono" title={param}>
              {param}
            </span>
            <span class="bar-track">
              <span class="importance-bar" data-param={param} style={{ width: `${(share * 100).toFixed(1)}%` }} />
            </span>
            <span class="bar-value num">{(share * 100).toFixed(1)}%</span>
          </div>
        ))}
      </div>
    </section>
  );
}

type SortKey = "number" | "value";
type ParamValue = TrialInfo["params"][string] | undefined;

function paramText(value: ParamValue): string {
  if (value === undefined || value === null) return "";
  return typeof value === "number" ? fmtNumber(value) : String(value);
}

/** A param as a plotting value: numbers stay numbers, anything else is a category. */
function paramValue(value: ParamValue): number | string | null {
  if (value === undefined || value === null) return null;
  return typeof value === "number" ? value : String(value);
}

function TrialsTable({ trials, paramKeys, bestNumber }: { trials: TrialInfo[]; paramKeys: string[]; bestNumber: number | null }) {
  const [sort, setSort] = useState<SortKey>("number");
  const [state, setState] = useState("");
  const shown = useMemo(() => {
    const rows = trials.filter((t) => !state || t.state === state);
    if (sort === "value") {
      return [...rows].sort((a, b) => (a.value ?? Infinity) - (b.value ?? Infinity));
    }
    return [...rows].sort((a, b) => a.number - b.number);
  }, [trials, sort, state]);
  return (
    <section class="card">
      <div class="card-head">
        <h3>Trials</h3>
        <label>
          state{" "}
          <select class="trial-state-filter" value={state} onChange={(e) => setState(e.currentTarget.value)}>
            <option value="">all</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s.toLowerCase()}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div class="scroll-x">
        <table class="simple trials-table">
          <thead>
            <tr>
              <th class="num sortable" onClick={() => setSort("number")}>
                #{sort === "number" ? " ▲" : ""}
              </th>
              <th>State</th>
              <th class="num sortable" onClick={() => setSort("value")}>
                Value{sort === "value" ? " ▲" : ""}
              </th>
              {paramKeys.map((k) => (
                <th key={k} class="kind-param">
                  {k}
                </th>
              ))}
              <th class="num">Last step</th>
              <th>Duration</th>
              <th>Agent</th>
              <th>Run</th>
              <th>Notes</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((t) => (
              <tr key={t.number} data-trial={String(t.number)} data-state={t.state} class={t.number === bestNumber ? "best" : ""}>
                <td class="num">{t.number}</td>
                <td>
                  <span class={`chip state-${t.state.toLowerCase()}`}>{t.state.toLowerCase()}</span>
                </td>
                <td class="num">{fmtNumber(t.value)}</td>
                {paramKeys.map((k) => (
                  <td key={k}>{paramText(t.params[k])}</td>
                ))}
                <td class="num">{t.last_step ?? ""}</td>
                <td>{t.duration === null ? "" : fmtDuration(t.duration * 1000)}</td>
                <td class="mono small">{t.agent ?? ""}</td>
                <td>{t.run_id ? <a href={href(`/runs/${t.run_id}`)}>{shortId(t.run_id)}</a> : ""}</td>
                <td class="small">
                  {t.retry_of !== null && <span>re-runs #{t.retry_of} </span>}
                  {t.stale && <span>agent lost </span>}
                  {t.error && (
                    <span class="trial-error mono" title={t.error}>
                      {t.error.split("\n").filter(Boolean).slice(-1)[0]}
                    </span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** The flattened names of the spec's parameters searched on a log scale. */
function logParams(space: unknown, prefix = ""): Set<string> {
  const out = new Set<string>();
  if (space === null || typeof space !== "object") return out;
  for (const [name, value] of Object.entries(space as Record<string, unknown>)) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) continue;
    const entry = value as Record<string, unknown>;
    if (typeof entry.type === "string") {
      if (entry.log === true) out.add(prefix + name);
    } else {
      for (const inner of logParams(entry, `${prefix}${name}.`)) out.add(inner);
    }
  }
  return out;
}

function SweepPage({ args }: ViewProps) {
  const sweepId = args.id as string;
  const [data, setData] = useState<SweepData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    loadSweep(sweepId).then(
      (d) => live && (setData(d), setError(null)),
      (e: Error) => live && setError(e.message),
    );
    return () => {
      live = false;
    };
  }, [sweepId, tick]);
  const finished = data?.sweep.finished ?? false;
  useEffect(() => {
    if (data === null || finished) return undefined;
    const timer = window.setTimeout(() => setTick((n) => n + 1), POLL_MS);
    return () => window.clearTimeout(timer);
  }, [data, finished]);

  const paramKeys = useMemo(() => {
    const keys = new Set<string>();
    for (const t of data?.trials ?? []) for (const k of Object.keys(t.params)) keys.add(k);
    return [...keys].sort();
  }, [data]);

  const coords = useMemo(() => {
    const done = (data?.trials ?? []).filter((t) => t.state === "COMPLETE" && t.value !== null);
    const sweep = data?.sweep;
    if (!sweep || done.length === 0) return null;
    const varying = paramKeys.filter((k) => new Set(done.map((t) => String(t.params[k]))).size > 1);
    const logScaled = logParams(sweep.spec.parameters);
    const dimensions: Dimension[] = varying.map((k) => {
      const values = done.map((t) => paramValue(t.params[k]));
      if (!logScaled.has(k)) return { label: k, values };
      return { label: `log10(${k})`, values: values.map((v) => (typeof v === "number" && v > 0 ? Math.log10(v) : null)) };
    });
    dimensions.push({ label: sweep.metric, values: done.map((t) => t.value) });
    const values = done.map((t) => t.value as number);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const position = (v: number) => {
      if (hi === lo) return 0;
      const p = (v - lo) / (hi - lo);
      return sweep.goal === "maximize" ? 1 - p : p;
    };
    const best = sweep.best ? done.findIndex((t) => t.number === sweep.best?.number) : -1;
    return {
      dimensions,
      labels: done.map((t) => `#${t.number}`),
      colors: values.map((v) => valueColor(position(v))),
      best: best >= 0 ? best : null,
    };
  }, [data, paramKeys]);

  if (error && !data) return <div class="page error">{error}</div>;
  if (!data) return <div class="page muted">Loading…</div>;
  const { sweep } = data;
  const best = sweep.best;
  return (
    <div class="page sweep-page" data-finished={String(sweep.finished)}>
      <div class="page-head">
        <h1>
          <a href={href("/sweeps")}>Sweeps</a> / <span class="sweep-name">{sweep.name}</span>
        </h1>
        {!sweep.finished && <span class="live">● live</span>}
      </div>
      {error && <div class="error">{error}</div>}
      <section class="card sweep-summary">
        <div class="kv-line">
          <span class="chip">{sweep.method}</span>
          <span class="chip">pruner: {sweep.pruner}</span>
          <span class="chip">
            {sweep.goal} {sweep.metric}
          </span>
          {sweep.budget !== null && <span class="chip">budget: {sweep.budget} trials</span>}
          <Counts counts={sweep.counts} />
        </div>
        <div class="kv-line">
          <span class="muted">Parent run: </span>
          <a href={href(`/runs/${sweep.sweep_id}`)}>{shortId(sweep.sweep_id)}</a>
          <span class="muted"> · experiment </span>
          <a href={href(`/experiments/${sweep.experiment_id}`)}>{sweep.experiment_id}</a>
          <span class="muted"> · created {fmtTime(sweep.created)}</span>
          {sweep.agents.length > 0 && (
            <span class="muted">
              {" "}
              · agents:{" "}
              {sweep.agents.map((a) => (
                <span key={a.agent} class={`chip ${a.alive ? "" : "dead"}`} title={a.alive ? "alive" : "lease expired"}>
                  {a.agent}
                  {a.alive ? "" : " (gone)"}
                </span>
              ))}
            </span>
          )}
        </div>
        {best ? (
          <div class="kv-line best-trial" data-trial={String(best.number)}>
            <span class="best-run">
              Best: trial #{best.number}, {sweep.metric} = {fmtNumber(best.value)}
            </span>{" "}
            {best.run_id && <a href={href(`/runs/${best.run_id}`)}>open run</a>}
            <div class="mono small">
              {Object.entries(best.params)
                .map(([k, v]) => `${k}=${String(v)}`)
                .join("  ")}
            </div>
          </div>
        ) : (
          <div class="muted">No completed trial yet.</div>
        )}
      </section>
      <div class="chart-grid">
        <section class="card sweep-history">
          <h3>Optimisation history</h3>
          <HistoryChart points={data.history} metric={sweep.metric} />
        </section>
        <section class="card sweep-intermediate">
          <h3>Intermediate values</h3>
          <IntermediateChart trials={data.intermediate} metric={sweep.metric} best={best?.number ?? null} />
        </section>
      </div>
      <section class="card sweep-coords">
        <h3>Parallel coordinates (completed trials, darker is better)</h3>
        {coords === null ? (
          <div class="muted">No completed trial yet.</div>
        ) : (
          <ParallelCoords dimensions={coords.dimensions} runLabels={coords.labels} colors={coords.colors} best={coords.best} />
        )}
      </section>
      <Importance sweepId={sweepId} refresh={sweep.counts.COMPLETE ?? 0} />
      <TrialsTable trials={data.trials} paramKeys={paramKeys} bestNumber={best?.number ?? null} />
    </div>
  );
}

registerView({ name: "sweeps", pattern: "/sweeps", component: SweepsPage, navLabel: "Sweeps", navPath: "/sweeps" });
registerView({ name: "sweep", pattern: "/sweeps/:id", component: SweepPage });
