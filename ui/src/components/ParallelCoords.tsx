// Parallel coordinates: one vertical axis per param (and the chosen metric, last), one line per
// run, colored by the metric; the best run drawn on top, thick.
import { useEffect, useRef } from "preact/hooks";
import { clip, makeScale, prepareCanvas, type Dimension } from "./plotting";

interface Props {
  dimensions: Dimension[];
  runLabels: string[];
  colors: string[];
  best: number | null;
  height?: number;
}

export function ParallelCoords({ dimensions, runLabels, colors, best, height = 320 }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = canvas.current;
    const container = box.current;
    if (!el || !container) return undefined;
    const draw = () => {
      const width = Math.max(300, container.clientWidth);
      const ctx = prepareCanvas(el, width, height);
      const left = 60;
      const right = 60;
      const top = 34;
      const bottom = 24;
      const n = dimensions.length;
      if (n === 0) return;
      const xs = dimensions.map((_, i) => (n === 1 ? width / 2 : left + (i * (width - left - right)) / (n - 1)));
      const scales = dimensions.map((d) => makeScale(d.values));
      const y = (p: number) => top + (1 - p) * (height - top - bottom);
      const order = runLabels.map((_, i) => i).filter((i) => i !== best);
      if (best !== null) order.push(best);
      for (const r of order) {
        ctx.beginPath();
        ctx.strokeStyle = colors[r] ?? "#888";
        ctx.lineWidth = r === best ? 3.5 : 1.4;
        ctx.globalAlpha = best === null || r === best ? 0.95 : 0.55;
        let drawing = false;
        dimensions.forEach((d, i) => {
          const p = scales[i]?.position(d.values[r] ?? null);
          if (p === null || p === undefined) {
            drawing = false;
            return;
          }
          if (drawing) ctx.lineTo(xs[i] as number, y(p));
          else ctx.moveTo(xs[i] as number, y(p));
          drawing = true;
        });
        ctx.stroke();
      }
      ctx.globalAlpha = 1;
      dimensions.forEach((d, i) => {
        const x = xs[i] as number;
        ctx.strokeStyle = "#444";
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(x, y(0));
        ctx.lineTo(x, y(1));
        ctx.stroke();
        ctx.fillStyle = "#222";
        ctx.textAlign = "center";
        ctx.font = "bold 12px system-ui, sans-serif";
        ctx.fillText(clip(d.label, 22), x, 14);
        ctx.font = "11px system-ui, sans-serif";
        ctx.fillStyle = "#555";
        const ticks = scales[i]?.ticks() ?? [];
        const every = Math.max(1, Math.ceil(ticks.length / 8));
        ticks.forEach((t, j) => {
          if (j % every) return;
          ctx.textAlign = i === n - 1 ? "right" : "left";
          ctx.fillText(clip(t.label, 12), x + (i === n - 1 ? -4 : 4), y(t.at) + 4);
        });
      });
    };
    draw();
    const observer = new ResizeObserver(draw);
    observer.observe(container);
    return () => observer.disconnect();
  }, [dimensions, runLabels, colors, best, height]);
  return (
    <div
      class="parallel-coords"
      ref={box}
      data-axes={JSON.stringify(dimensions.map((d) => d.label))}
      data-lines={String(runLabels.length)}
      data-best={best === null ? "" : runLabels[best]}
    >
      <canvas ref={canvas} role="img" aria-label={`Parallel coordinates over ${dimensions.map((d) => d.label).join(", ")}`} />
    </div>
  );
}
