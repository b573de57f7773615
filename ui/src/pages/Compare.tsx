// Compare runs: params side by side (only differences on demand), overlaid metric charts from
// the min/max-bucketed series (re-bucketed on zoom), parallel coordinates, a scatter of any
// param or metric against any other, and the best run by a chosen metric highlighted.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, type Run, type SeriesData, type Summary } from "../api";
import { Chart, type ChartSeries } from "../components/Chart";
import { ChartControls } from "../components/MetricCharts";
import { ParallelCoords } from "../components/ParallelCoords";
import { Scatter } from "../components/Scatter";
import type { Dimension, Value } from "../components/plotting";
import { fmtNumber, seriesColor, shortId } from "../format";
import { href, updateParams } from "../router";
import { registerView, type ViewProps } from "../views";

const BUCKETS = 800;
const MAX_AXES = 12;

function summaryValue(s: Summary | undefined, agg: "last" | "min" | "max"): number | null {
  if (!s) return null;
  const v = agg === "last" ? s.last : agg === "min" ? s.min : s.max;
  return typeof v === "number" ? v : null;
}

function lowerIsBetter(key: string): boolean {
  return /loss|err|mae|mse|rmse|perplexity|time|wer|cer/i.test(key);
}

function seriesQuery(runIds: string[], metric: string, w: [number, number] | null) {
  return { run_ids: runIds, keys: [metric], buckets: BUCKETS, start: w ? Math.floor(w[0]) : null, end: w ? Math.ceil(w[1]) : null };
}

function OverlayChart(props: {
  metric: string;
  runs: Run[];
  labels: string[];
  colors: string[];
  best: number | null;
  logY: boolean;
  smoothing: number;
}) {
  const { metric, runs } = props;
  const [data, setData] = useState<SeriesData[] | null>(null);
  const [window_, setWindow] = useState<[number, number] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const ids = runs.map((r) => r.info.run_id);
  const fetchWindow = (w: [number, number] | null) => {
    api.series(seriesQuery(ids, metric, w)).then(
      (answer) => setData(answer.series),
      (e: Error) => setError(e.message),
    );
  };
  useEffect(() => {
    setWindow(null);
    fetchWindow(null);
  }, [metric, ids.join(",")]);
  const series: ChartSeries[] = useMemo(
    () =>
      (data ?? [])
        .map((s, i) => ({
          label: props.labels[i] ?? s.run_id,
          color: props.colors[i] ?? "#888",
          xs: s.steps,
          ys: s.values,
          emphasis: i === props.best,
        }))
        .filter((s) => s.xs.length > 0),
    [data, props.labels, props.colors, props.best],
  );
  if (error) return <div class="error">{error}</div>;
  if (!data) return <div class="chart-placeholder">{metric}: loading…</div>;
  const total = data.reduce((n, s) => n + s.total, 0);
  const shown = data.reduce((n, s) => n + s.steps.length, 0);
  return (
    <div class="chart-cell" data-metric={metric}>
      <Chart
        title={`${metric}${total > shown ? ` · ${total.toLocaleString()} points as min/max of ${shown.toLocaleString()}` : ""}`}
        series={series}
        logY={props.logY}
        smoothing={props.smoothing}
        window={window_}
        onZoom={(range) => {
          setWindow(range);
          fetchWindow(range);
        }}
      />
    </div>
  );
}

function ComparePage({ params }: ViewProps) {
  const runIds = (params.get("runs") ?? "").split(",").filter(Boolean);
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [logY, setLogY] = useState(false);
  const [smoothing, setSmoothing] = useState(0);
  useEffect(() => {
    setRuns(null);
    // Charts named in the URL are fetched at once, alongside the runs.
    for (const metric of (params.get("metrics") ?? "").split(",").filter(Boolean)) {
      api.series(seriesQuery(runIds, metric, null)).catch(() => undefined);
    }
    api.runsById(runIds).then(setRuns, (e: Error) => setError(e.message));
  }, [runIds.join(",")]);

  const labels = useMemo(() => (runs ?? []).map((r) => r.info.run_name || shortId(r.info.run_id)), [runs]);
  const colors = useMemo(() => (runs ?? []).map((_, i) => seriesColor(i)), [runs]);
  const metricKeys = useMemo(() => {
    const keys = new Set<string>();
    for (const r of runs ?? []) for (const k of Object.keys(r.data.summaries ?? {})) keys.add(k);
    return [...keys].sort((a, b) => Number(a.startsWith("system/")) - Number(b.startsWith("system/")) || a.localeCompare(b));
  }, [runs]);
  const paramKeys = useMemo(() => {
    const keys = new Set<string>();
    for (const r of runs ?? []) for (const k of Object.keys(r.data.params ?? {})) keys.add(k);
    return [...keys].sort();
  }, [runs]);
  const differing = useMemo(
    () => paramKeys.filter((k) => new Set((runs ?? []).map((r) => r.data.params?.[k] ?? "\u0000")).size > 1),
    [paramKeys, runs],
  );

  const chosenParam = params.get("metrics");
  const charted = chosenParam !== null ? chosenParam.split(",").filter((k) => metricKeys.includes(k)) : metricKeys.filter((k) => !k.startsWith("system/")).slice(0, 4);
  const bestKey = params.get("best") ?? charted[0] ?? metricKeys[0] ?? "";
  const direction = (params.get("dir") ?? (lowerIsBetter(bestKey) ? "min" : "max")) as "min" | "max";
  const onlyDiff = params.get("diff") !== "0";

  const best = useMemo(() => {
    if (!runs || !bestKey) return null;
    let at: number | null = null;
    let value = 0;
    runs.forEach((r, i) => {
      const v = summaryValue(r.data.summaries?.[bestKey], direction);
      if (v === null) return;
      if (at === null || (direction === "min" ? v < value : v > value)) [at, value] = [i, v];
    });
    return at;
  }, [runs, bestKey, direction]);

  const dimensions: Dimension[] = useMemo(() => {
    if (!runs) return [];
    const dims: Dimension[] = differing.slice(0, MAX_AXES).map((k) => ({ label: k, values: runs.map((r) => r.data.params?.[k] ?? null) }));
    if (bestKey) dims.push({ label: `${bestKey} (${direction})`, values: runs.map((r) => summaryValue(r.data.summaries?.[bestKey], direction)) });
    return dims;
  }, [runs, differing, bestKey, direction]);

  const axisOptions = useMemo(() => [...paramKeys.map((k) => `param:${k}`), ...metricKeys.map((k) => `metric:${k}`)], [paramKeys, metricKeys]);
  const sx = params.get("x") ?? (differing[0] ? `param:${differing[0]}` : (axisOptions[0] ?? ""));
  const sy = params.get("y") ?? (bestKey ? `metric:${bestKey}` : (axisOptions[1] ?? ""));
  const axisValues = (choice: string): Value[] => {
    const [kind, ...rest] = choice.split(":");
    const key = rest.join(":");
    return (runs ?? []).map((r) => (kind === "param" ? (r.data.params?.[key] ?? null) : summaryValue(r.data.summaries?.[key], "last")));
  };
  const xs = useMemo(() => axisValues(sx), [runs, sx]);
  const ys = useMemo(() => axisValues(sy), [runs, sy]);

  if (runIds.length === 0) return <div class="page muted">Choose runs to compare in a runs table.</div>;
  if (error) return <div class="page error">{error}</div>;
  if (!runs) return <div class="page muted">Loading…</div>;
  const shownParams = onlyDiff ? differing : paramKeys;
  const experiment = runs[0]?.info.experiment_id;

  return (
    <div class="page compare-page">
      <div class="page-head">
        <h1>
          {experiment !== undefined && (
            <>
              <a href={href(`/experiments/${experiment}`)}>Runs</a> /{" "}
            </>
          )}
          Compare {runs.length} runs
        </h1>
      </div>
      <section class="card legend-card">
        <div class="best-controls">
          <label>
            Best run by{" "}
            <select value={bestKey} onChange={(e) => updateParams({ best: e.currentTarget.value })} class="best-metric">
              {metricKeys.map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
          </label>{" "}
          <select value={direction} onChange={(e) => updateParams({ dir: e.currentTarget.value })}>
            <option value="min">lowest (min)</option>
            <option value="max">highest (max)</option>
          </select>
          {best !== null && (
            <span class="best-run">
              ★ best: <a href={href(`/runs/${runs[best]?.info.run_id}`)}>{labels[best]}</a> ({fmtNumber(summaryValue(runs[best]?.data.summaries?.[bestKey], direction))})
            </span>
          )}
        </div>
        <div class="legend">
          {runs.map((r, i) => (
            <a key={r.info.run_id} class={`legend-item${i === best ? " best" : ""}`} href={href(`/runs/${r.info.run_id}`)}>
              <span class="swatch" style={{ background: colors[i] }} />
              {labels[i]}
              {i === best ? " ★" : ""}
            </a>
          ))}
        </div>
      </section>

      <section class="card">
        <div class="card-head">
          <h3>Metrics</h3>
          <details class="metric-chooser">
            <summary>Choose charts ({charted.length})</summary>
            {metricKeys.map((k) => (
              <label key={k} class="picker-check">
                <input
                  type="checkbox"
                  checked={charted.includes(k)}
                  onChange={() => {
                    const next = charted.includes(k) ? charted.filter((c) => c !== k) : [...charted, k];
                    updateParams({ metrics: next.join(",") || "," });
                  }}
                />
                {k}
              </label>
            ))}
          </details>
        </div>
        <ChartControls time={false} logY={logY} smoothing={smoothing} onLog={setLogY} onSmoothing={setSmoothing} />
        <div class="chart-grid">
          {charted.map((k) => (
            <OverlayChart key={k} metric={k} runs={runs} labels={labels} colors={colors} best={best} logY={logY} smoothing={smoothing} />
          ))}
        </div>
      </section>

      <section class="card">
        <h3>Parallel coordinates</h3>
        {dimensions.length === 0 ? <div class="muted">No params differ between these runs.</div> : <ParallelCoords dimensions={dimensions} runLabels={labels} colors={colors} best={best} />}
      </section>

      <section class="card">
        <div class="card-head">
          <h3>Scatter</h3>
          <label>
            x{" "}
            <select class="scatter-x" value={sx} onChange={(e) => updateParams({ x: e.currentTarget.value })}>
              {axisOptions.map((o) => (
                <option key={o} value={o}>
                  {o}
                </option>
              ))}
            </select>
          </label>
          <label>
            y{" "}
            <select class="scatter-y" value={sy} onChange={(e) => updateParams({ y: e.currentTarget.value })}>
              {axisOptions.map((o) => (
                <option key={o} value={o}>
                  {o}
                </option>
              ))}
            </select>
          </label>
        </div>
        <Scatter xLabel={sx} yLabel={sy} xs={xs} ys={ys} runLabels={labels} colors={colors} best={best} />
      </section>

      <section class="card">
        <div class="card-head">
          <h3>
            Params <span class="muted">({differing.length} of {paramKeys.length} differ)</span>
          </h3>
          <label class="toggle">
            <input type="checkbox" class="only-diff" checked={onlyDiff} onChange={() => updateParams({ diff: onlyDiff ? "0" : null })} />
            only differences
          </label>
        </div>
        <div class="scroll-x">
          <table class="simple params-diff">
            <thead>
              <tr>
                <th>Param</th>
                {runs.map((r, i) => (
                  <th key={r.info.run_id}>
                    <span class="swatch" style={{ background: colors[i] }} />
                    {labels[i]}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {shownParams.map((k) => (
                <tr key={k} class={differing.includes(k) ? "differs" : ""} data-param={k}>
                  <td class="key">{k}</td>
                  {runs.map((r) => (
                    <td key={r.info.run_id}>{r.data.params?.[k] ?? ""}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <section class="card">
        <h3>Metric summaries ({direction === "min" ? "min" : "max"} and last)</h3>
        <div class="scroll-x">
          <table class="simple">
            <thead>
              <tr>
                <th>Metric</th>
                {runs.map((r, i) => (
                  <th key={r.info.run_id}>{labels[i]}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {metricKeys.map((k) => (
                <tr key={k}>
                  <td class="key">{k}</td>
                  {runs.map((r) => {
                    const s = r.data.summaries?.[k];
                    return (
                      <td key={r.info.run_id} class="num">
                        {s ? `${fmtNumber(s.last)} (${direction} ${fmtNumber(summaryValue(s, direction))})` : ""}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}

registerView({ name: "compare", pattern: "/compare", component: ComparePage });
