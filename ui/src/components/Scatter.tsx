// A scatter of one param or metric against another, one point per run; the best run ringed.
import { useEffect, useRef, useState } from "preact/hooks";
import { clip, makeScale, prepareCanvas, type Value } from "./plotting";

interface Props {
  xLabel: string;
  yLabel: string;
  xs: Value[];
  ys: Value[];
  runLabels: string[];
  colors: string[];
  best: number | null;
  height?: number;
}

export function Scatter({ xLabel, yLabel, xs, ys, runLabels, colors, best, height = 320 }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const points = useRef<{ x: number; y: number; i: number }[]>([]);
  const [hover, setHover] = useState<{ x: number; y: number; i: number } | null>(null);
  useEffect(() => {
    const el = canvas.current;
    const container = box.current;
    if (!el || !container) return undefined;
    const draw = () => {
      const width = Math.max(300, container.clientWidth);
      const ctx = prepareCanvas(el, width, height);
      const left = 70;
      const right = 20;
      const top = 16;
      const bottom = 48;
      const sx = makeScale(xs);
      const sy = makeScale(ys);
      const px = (p: number) => left + p * (width - left - right);
      const py = (p: number) => top + (1 - p) * (height - top - bottom);
      ctx.strokeStyle = "#ccc";
      ctx.fillStyle = "#555";
      ctx.font = "11px system-ui, sans-serif";
      for (const t of sx.ticks().slice(0, 12)) {
        ctx.beginPath();
        ctx.moveTo(px(t.at), top);
        ctx.lineTo(px(t.at), height - bottom);
        ctx.stroke();
        ctx.textAlign = "center";
        ctx.fillText(clip(t.label, 12), px(t.at), height - bottom + 14);
      }
      for (const t of sy.ticks().slice(0, 12)) {
        ctx.beginPath();
        ctx.moveTo(left, py(t.at));
        ctx.lineTo(width - right, py(t.at));
        ctx.stroke();
        ctx.textAlign = "right";
        ctx.fillText(clip(t.label, 10), left - 6, py(t.at) + 4);
      }
      ctx.fillStyle = "#222";
      ctx.font = "bold 12px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(clip(xLabel, 40), left + (width - left - right) / 2, height - 10);
      ctx.save();
      ctx.translate(14, top + (height - top - bottom) / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(clip(yLabel, 40), 0, 0);
      ctx.restore();
      const drawn: { x: number; y: number; i: number }[] = [];
      xs.forEach((xv, i) => {
        const a = sx.position(xv);
        const b = sy.position(ys[i] ?? null);
        if (a === null || b === null) return;
        drawn.push({ x: px(a), y: py(b), i });
      });
      for (const p of drawn) {
        ctx.beginPath();
        ctx.fillStyle = colors[p.i] ?? "#888";
        ctx.arc(p.x, p.y, p.i === best ? 7 : 5, 0, Math.PI * 2);
        ctx.fill();
        if (p.i === best) {
          ctx.strokeStyle = "#000";
          ctx.lineWidth = 2;
          ctx.stroke();
        }
      }
      points.current = drawn;
      container.dataset.points = String(drawn.length);
    };
    draw();
    const observer = new ResizeObserver(draw);
    observer.observe(container);
    return () => observer.disconnect();
  }, [xs, ys, xLabel, yLabel, colors, best, height]);
  const onMove = (e: MouseEvent) => {
    const rect = (e.currentTarget as HTMLElement).getBoundingClientRect();
    const mx = e.clientX - rect.left;
    const my = e.clientY - rect.top;
    let nearest: { x: number; y: number; i: number } | null = null;
    let distance = 12 * 12;
    for (const p of points.current) {
      const d = (p.x - mx) ** 2 + (p.y - my) ** 2;
      if (d < distance) [nearest, distance] = [p, d];
    }
    setHover(nearest);
  };
  return (
    <div class="scatter" ref={box} onMouseMove={onMove} onMouseLeave={() => setHover(null)}>
      <canvas ref={canvas} role="img" aria-label={`${yLabel} against ${xLabel}`} />
      {hover && (
        <div class="plot-tooltip" style={{ left: `${hover.x + 10}px`, top: `${hover.y + 10}px` }}>
          {runLabels[hover.i]}: {String(xs[hover.i])}, {String(ys[hover.i])}
        </div>
      )}
    </div>
  );
}
