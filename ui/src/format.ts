// Formatting of numbers, times and durations for tables and charts.
import type { Cell } from "./api";

export function fmtNumber(value: Cell | undefined): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return String(Number(value.toPrecision(5)));
}

export function fmtTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || ms < 0) return "";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function fmtAgo(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "never";
  const diff = Date.now() - ms;
  if (diff < 60_000) return "just now";
  return `${fmtDuration(diff).split(" ")[0]} ago`;
}

export function fmtBytes(size: number | null | undefined): string {
  if (size === null || size === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function runDuration(start: number, end: number | null, status: string): number | null {
  if (end !== null) return end - start;
  return status === "RUNNING" ? Date.now() - start : null;
}

/** A color per series: distinct hues by the golden angle. */
export function seriesColor(index: number): string {
  const hue = (index * 137.508 + 210) % 360;
  return `hsl(${hue.toFixed(0)}, 70%, ${index % 2 ? 38 : 48}%)`;
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}
