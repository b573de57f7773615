// Images logged by key, browsed by step with a slider.
import { useEffect, useState } from "preact/hooks";
import { api, artifactUrl, type ImageSeries } from "../api";
import { fmtTime } from "../format";

function ImageKey({ runId, series }: { runId: string; series: ImageSeries }) {
  const [index, setIndex] = useState(series.steps.length - 1);
  const at = Math.min(index, series.steps.length - 1);
  const current = series.steps[at];
  if (!current) return null;
  return (
    <section class="card image-key" data-image-key={series.key}>
      <h3>{series.key}</h3>
      <div class="image-controls">
        <input
          type="range"
          class="step-slider"
          min={0}
          max={series.steps.length - 1}
          step={1}
          value={at}
          onInput={(e) => setIndex(Number(e.currentTarget.value))}
          aria-label={`Step of ${series.key}`}
        />
        <span class="mono step-label">
          step {current.step} ({at + 1}/{series.steps.length})
        </span>
        <span class="muted">{fmtTime(current.timestamp)}</span>
      </div>
      <a href={artifactUrl(runId, current.path)} target="_blank" rel="noopener">
        <img class="step-image" src={artifactUrl(runId, current.path)} alt={`${series.key} at step ${current.step}`} data-step={current.step} />
      </a>
    </section>
  );
}

export function Images({ runId, version }: { runId: string; version: number }) {
  const [series, setSeries] = useState<ImageSeries[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.images(runId).then(setSeries, (e: Error) => setError(e.message));
  }, [runId, version]);
  if (error) return <div class="error">{error}</div>;
  if (series === null) return <div class="muted">Loading…</div>;
  if (series.length === 0) return <div class="muted">No images logged by key (log_image(image, key=..., step=...)).</div>;
  return (
    <div class="image-grid">
      {series.map((s) => (
        <ImageKey key={s.key} runId={runId} series={s} />
      ))}
    </div>
  );
}
