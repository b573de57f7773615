// Shared helpers for the canvas plots (parallel coordinates, scatter).

export type Value = number | string | null;

export interface Dimension {
  label: string;
  values: Value[];
}

/** A dimension's scale: numbers map linearly, anything else to evenly spaced categories. */
export interface Scale {
  numeric: boolean;
  categories: string[];
  min: number;
  max: number;
  /** 0..1 (bottom..top), null for a missing value. */
  position(value: Value): number | null;
  ticks(): { at: number; label: string }[];
}

export function numericValue(value: Value): number | null {
  if (value === null || value === "") return null;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}

export function makeScale(values: Value[]): Scale {
  const present = values.filter((v) => v !== null && v !== "");
  const numeric = present.length > 0 && present.every((v) => numericValue(v) !== null);
  if (numeric) {
    const nums = present.map((v) => numericValue(v) as number);
    let min = Math.min(...nums);
    let max = Math.max(...nums);
    if (min === max) {
      min -= 0.5;
      max += 0.5;
    }
    return {
      numeric,
      categories: [],
      min,
      max,
      position: (v) => {
        const n = numericValue(v);
        return n === null ? null : (n - min) / (max - min);
      },
      ticks: () =>
        [0, 0.25, 0.5, 0.75, 1].map((t) => ({ at: t, label: formatTick(min + t * (max - min)) })),
    };
  }
  const categories = [...new Set(present.map(String))].sort();
  const span = Math.max(1, categories.length - 1);
  return {
    numeric,
    categories,
    min: 0,
    max: span,
    position: (v) => {
      if (v === null || v === "") return null;
      const i = categories.indexOf(String(v));
      return categories.length === 1 ? 0.5 : i / span;
    },
    ticks: () => categories.map((c, i) => ({ at: categories.length === 1 ? 0.5 : i / span, label: c })),
  };
}

export function formatTick(n: number): string {
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) return n.toExponential(2);
  return String(Number(n.toPrecision(4)));
}

/** A canvas sized for the device's pixel ratio; returns its 2D context in CSS pixels. */
export function prepareCanvas(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "12px system-ui, sans-serif";
  return ctx;
}

export function clip(text: string, max = 18): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
