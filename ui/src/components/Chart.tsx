// A line chart on uPlot (canvas): thousands of points per series and a hundred series stay
// smooth. Drag to zoom on x; `onZoom` lets the owner fetch the window again at full detail
// (the server re-buckets it), double-click goes back to the whole range.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { fmtNumber } from "../format";

export interface ChartSeries {
  label: string;
  color: string;
  xs: number[];
  ys: (number | null)[];
  /** Drawn thicker (the best run). */
  emphasis?: boolean;
  /** Markers only, no line (one value per trial, say). */
  markers?: boolean;
  /** A dashed line (a pruned trial, say). */
  dashed?: boolean;
}

export interface ChartProps {
  title: string;
  series: ChartSeries[];
  /** x values are seconds since the epoch (wall time) rather than steps. */
  time?: boolean;
  logY?: boolean;
  /** Exponential moving average weight, 0 (raw) to 0.99. */
  smoothing?: number;
  height?: number;
  /** What x is called in the legend (default: step, or time). */
  xLabel?: string;
  onZoom?: (range: [number, number] | null) => void;
  /** The x window currently shown (kept when data for it arrives). */
  window?: [number, number] | null;
}

/** Debiased exponential moving average (as TensorBoard draws it); nulls stay gaps. */
export function smooth(ys: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return ys;
  let last = 0;
  let n = 0;
  return ys.map((y) => {
    if (y === null || !Number.isFinite(y)) return y;
    last = last * weight + (1 - weight) * y;
    n += 1;
    return last / (1 - Math.pow(weight, n));
  });
}

function alignedData(series: ChartSeries[], logY: boolean, smoothing: number): uPlot.AlignedData {
  const tables = series.map((s) => {
    let ys = smooth(s.ys, smoothing);
    if (logY) ys = ys.map((y) => (y !== null && y > 0 ? y : null));
    return [s.xs, ys] as unknown as uPlot.AlignedData;
  });
  if (tables.length === 0) return [[]];
  if (tables.length === 1) return tables[0] as uPlot.AlignedData;
  return uPlot.join(tables);
}

export function Chart(props: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = useRef("");
  const quiet = useRef(false);
  const zoomTimer = useRef<number | undefined>(undefined);
  const onZoom = useRef(props.onZoom);
  onZoom.current = props.onZoom;
  const windowRef = useRef(props.window ?? null);
  windowRef.current = props.window ?? null;
  const { series, time = false, logY = false, smoothing = 0, height = 220 } = props;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const data = alignedData(series, logY, smoothing);
    const key = JSON.stringify([series.map((s) => [s.label, s.color, !!s.emphasis, !!s.markers, !!s.dashed]), time, logY, height]);
    const windowed = props.window ?? null;
    if (plot.current && shape.current === key) {
      quiet.current = true;
      plot.current.setData(data, windowed === null);
      if (windowed) plot.current.setScale("x", { min: windowed[0], max: windowed[1] });
      quiet.current = false;
    } else {
      plot.current?.destroy();
      shape.current = key;
      const many = series.length > 10;
      const opts: uPlot.Options = {
        width: Math.max(200, el.clientWidth),
        height,
        legend: { show: !many, live: !many },
        cursor: { drag: { x: true, y: false, setScale: true }, points: { show: !many } },
        scales: { x: { time }, y: logY ? { distr: 3 } : {} },
        axes: [
          { stroke: "#555", grid: { stroke: "#eee" } },
          { stroke: "#555", grid: { stroke: "#eee" }, size: 60, values: (_u, ticks) => ticks.map((t) => fmtNumber(t)) },
        ],
        series: [
          { label: props.xLabel ?? (time ? "time" : "step") },
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: s.emphasis ? 2.5 : many ? 1 : 1.5,
            spanGaps: false,
            points: s.markers ? { show: true, size: 7, fill: s.color } : { show: false },
            ...(s.markers ? { paths: () => null } : {}),
            ...(s.dashed ? { dash: [6, 4] } : {}),
            value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? "" : fmtNumber(v)),
          })),
        ],
        hooks: {
          setScale: [
            (u, scaleKey) => {
              if (scaleKey !== "x" || quiet.current || !onZoom.current) return;
              const min = u.scales.x?.min;
              const max = u.scales.x?.max;
              if (min === undefined || max === undefined || min === null || max === null) return;
              // Scales settle to the whole data range after every setData: not a zoom.
              const xs = u.data[0];
              const whole = xs.length > 0 && min <= (xs[0] as number) && max >= (xs[xs.length - 1] as number);
              if (whole && !windowRef.current) return;
              window.clearTimeout(zoomTimer.current);
              zoomTimer.current = window.setTimeout(() => onZoom.current?.([min, max]), 120);
            },
          ],
          draw: [
            () => {
              el.dataset.drawn = String(Number(el.dataset.drawn ?? "0") + 1);
              el.dispatchEvent(new CustomEvent("chart-drawn", { bubbles: true }));
            },
          ],
        },
      };
      quiet.current = true;
      const u = new uPlot(opts, data, el);
      if (windowed) u.setScale("x", { min: windowed[0], max: windowed[1] });
      quiet.current = false;
      u.over.addEventListener("dblclick", () => {
        if (onZoom.current) {
          window.clearTimeout(zoomTimer.current);
          onZoom.current(null);
        }
      });
      plot.current = u;
    }
    el.dataset.series = JSON.stringify(series.map((s) => s.label));
    el.dataset.points = String(series.reduce((n, s) => n + s.xs.length, 0));
  }, [series, time, logY, smoothing, height, props.window]);

  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const observer = new ResizeObserver(() => {
      const u = plot.current;
      if (u && Math.abs(u.width - el.clientWidth) > 2) u.setSize({ width: Math.max(200, el.clientWidth), height: u.height });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
      shape.current = "";
    };
  }, []);

  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div class="chart-canvas" ref={box} data-title={props.title} />
    </figure>
  );
}
