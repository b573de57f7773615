// One chart per metric key of a run: step or wall-time axis, log scale, smoothing; zooming on
// the step axis fetches the window again, re-bucketed, so no peak is lost at any zoom.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, type SeriesData } from "../api";
import { Chart, type ChartSeries } from "./Chart";

const BUCKETS = 1000;

interface Props {
  runId: string;
  keys: string[];
  /** Changes when the run has new data (live updates while it runs). */
  version: number;
  emptyText: string;
}

export function ChartControls(props: {
  time: boolean;
  logY: boolean;
  smoothing: number;
  onTime?: (time: boolean) => void;
  onLog: (log: boolean) => void;
  onSmoothing: (weight: number) => void;
}) {
  return (
    <div class="chart-controls">
      {props.onTime && (
        <label>
          x axis{" "}
          <select value={props.time ? "time" : "step"} onChange={(e) => props.onTime?.(e.currentTarget.value === "time")}>
            <option value="step">step</option>
            <option value="time">wall time</option>
          </select>
        </label>
      )}
      <label class="toggle">
        <input type="checkbox" checked={props.logY} onChange={() => props.onLog(!props.logY)} /> log scale
      </label>
      <label>
        smoothing{" "}
        <input
          type="range"
          min={0}
          max={0.99}
          step={0.01}
          value={props.smoothing}
          onInput={(e) => props.onSmoothing(Number(e.currentTarget.value))}
        />{" "}
        <span class="mono">{props.smoothing.toFixed(2)}</span>
      </label>
      <span class="muted">drag to zoom · double-click to reset</span>
    </div>
  );
}

export function MetricCharts({ runId, keys, version, emptyText }: Props) {
  const [data, setData] = useState<Record<string, SeriesData>>({});
  const [windows, setWindows] = useState<Record<string, [number, number] | null>>({});
  const [time, setTime] = useState(false);
  const [logY, setLogY] = useState(false);
  const [smoothing, setSmoothing] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const keyList = useMemo(() => keys.join("\n"), [keys]);

  useEffect(() => {
    if (keys.length === 0) return;
    const open = Object.entries(windows).filter(([, w]) => w);
    const whole = keys.filter((k) => !windows[k]);
    const requests: Promise<void>[] = [];
    if (whole.length)
      requests.push(
        api.series({ run_ids: [runId], keys: whole, buckets: BUCKETS, timestamps: true }).then((answer) => {
          setData((old) => ({ ...old, ...Object.fromEntries(answer.series.map((s) => [s.key, s])) }));
        }),
      );
    for (const [key, w] of open) requests.push(fetchWindow(key, w as [number, number]));
    Promise.all(requests).then(
      () => setError(null),
      (e: Error) => setError(e.message),
    );
  }, [runId, keyList, version]);

  const fetchWindow = (key: string, w: [number, number] | null) =>
    api
      .series({
        run_ids: [runId],
        keys: [key],
        buckets: BUCKETS,
        timestamps: true,
        start: w ? Math.floor(w[0]) : null,
        end: w ? Math.ceil(w[1]) : null,
      })
      .then((answer) => {
        const s = answer.series[0];
        if (s) setData((old) => ({ ...old, [key]: s }));
      });

  const zoom = (key: string, range: [number, number] | null) => {
    if (time) return; // wall-time zoom is drawn from the data at hand
    setWindows((old) => ({ ...old, [key]: range }));
    fetchWindow(key, range);
  };

  if (keys.length === 0) return <div class="muted">{emptyText}</div>;
  return (
    <div>
      <ChartControls
        time={time}
        logY={logY}
        smoothing={smoothing}
        onTime={setTime}
        onLog={setLogY}
        onSmoothing={setSmoothing}
      />
      {error && <div class="error">{error}</div>}
      <div class="chart-grid">
        {keys.map((key) => {
          const s = data[key];
          const series: ChartSeries[] = s
            ? [
                {
                  label: key,
                  color: "hsl(210, 70%, 45%)",
                  xs: time ? s.timestamps.map((t) => t / 1000) : s.steps,
                  ys: s.values,
                },
              ]
            : [];
          return (
            <div class="chart-cell" key={key} data-metric={key}>
              {s ? (
                <Chart
                  title={`${key}${s.total > s.steps.length ? ` · ${s.total.toLocaleString()} points, min/max of ${s.steps.length}` : ""}`}
                  series={series}
                  time={time}
                  logY={logY}
                  smoothing={smoothing}
                  onZoom={time ? undefined : (range) => zoom(key, range)}
                  window={time ? null : (windows[key] ?? null)}
                />
              ) : (
                <div class="chart-placeholder">{key}: loading…</div>
              )}
            </div>
          );
        })}
      </div>
    </div>
  );
}
