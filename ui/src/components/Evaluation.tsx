// A run's classification reports (runbase.log_classification_report): per-class precision,
// recall, F1 and support with the averages, and the confusion matrix as a heat map, counts or
// row-normalised. The run's `runbase.evaluations` tag lists the reports' JSON artifacts.
import { useEffect, useState } from "preact/hooks";
import { artifactText } from "../api";
import { fmtNumber } from "../format";

export const EVALUATIONS_TAG = "runbase.evaluations";

interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

interface Report {
  names: string[];
  matrix: number[][];
  normalized: number[][];
  per_class: Record<string, ClassMetrics>;
  macro: ClassMetrics;
  weighted: ClassMetrics;
  accuracy: number;
}

/** The report paths a run's tag lists; anything malformed is ignored. */
export function evaluationPaths(tags: Record<string, string>): string[] {
  try {
    const parsed: unknown = JSON.parse(tags[EVALUATIONS_TAG] ?? "[]");
    return Array.isArray(parsed) ? parsed.filter((p): p is string => typeof p === "string") : [];
  } catch {
    return [];
  }
}

function parseReport(text: string): Report {
  const data = JSON.parse(text) as Partial<Report>;
  const k = data.names?.length ?? 0;
  const square = (m: unknown) => Array.isArray(m) && m.length === k && m.every((r) => Array.isArray(r) && r.length === k);
  if (!k || !square(data.matrix) || !square(data.normalized) || !data.per_class || !data.macro || !data.weighted) {
    throw new Error("not a classification report written by runbase");
  }
  return data as Report;
}

function heat(share: number): string {
  return `rgba(11, 98, 214, ${Math.max(0, Math.min(1, share)).toFixed(3)})`;
}

function MetricsRow({ name, m, strong = false }: { name: string; m: ClassMetrics; strong?: boolean }) {
  return (
    <tr class={strong ? "average" : ""} data-class={name}>
      <td class="key">{name}</td>
      <td class="num">{m.precision.toFixed(4)}</td>
      <td class="num">{m.recall.toFixed(4)}</td>
      <td class="num">{m.f1.toFixed(4)}</td>
      <td class="num">{m.support}</td>
    </tr>
  );
}

function ReportPanel({ runId, path, version }: { runId: string; path: string; version: number }) {
  const [report, setReport] = useState<Report | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [normalized, setNormalized] = useState(false);
  useEffect(() => {
    artifactText(runId, path).then(
      (text) => {
        try {
          setReport(parseReport(text));
          setError(null);
        } catch (e) {
          setError(`${path}: ${(e as Error).message}`);
        }
      },
      (e: Error) => setError(`${path}: ${e.message}`),
    );
  }, [runId, path, version]);
  if (error) return <div class="error">{error}</div>;
  if (!report) return <div class="muted">Loading {path}…</div>;
  const values = normalized ? report.normalized : report.matrix;
  const rowTotals = report.matrix.map((row) => row.reduce((a, b) => a + b, 0));
  const peak = Math.max(1, ...report.matrix.flat());
  return (
    <section class="card evaluation" data-path={path}>
      <div class="card-head">
        <h3 class="mono">{path}</h3>
        <span>
          accuracy <strong class="accuracy">{fmtNumber(report.accuracy)}</strong>
        </span>
        <label class="toggle">
          <input type="checkbox" class="normalize" checked={normalized} onChange={(e) => setNormalized(e.currentTarget.checked)} />
          row-normalised
        </label>
      </div>
      <div class="evaluation-body">
        <table class="simple per-class">
          <thead>
            <tr>
              <th>Class</th>
              <th class="num">Precision</th>
              <th class="num">Recall</th>
              <th class="num">F1</th>
              <th class="num">Support</th>
            </tr>
          </thead>
          <tbody>
            {report.names.map((n) => report.per_class[n] && <MetricsRow key={n} name={n} m={report.per_class[n] as ClassMetrics} />)}
            <MetricsRow name="macro avg" m={report.macro} strong />
            <MetricsRow name="weighted avg" m={report.weighted} strong />
          </tbody>
        </table>
        <div class="scroll-x">
          <table class="confusion" aria-label="Confusion matrix: rows are true classes, columns predicted">
            <thead>
              <tr>
                <th class="corner">true ↓ predicted →</th>
                {report.names.map((n) => (
                  <th key={n} class="col-name" title={n}>
                    {n}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {values.map((row, i) => (
                <tr key={report.names[i]}>
                  <th class="row-name" title={report.names[i]}>
                    {report.names[i]}
                  </th>
                  {row.map((v, j) => {
                    const count = report.matrix[i]?.[j] ?? 0;
                    const share = normalized ? v : count / peak;
                    return (
                      <td
                        key={j}
                        class={i === j ? "diag" : ""}
                        style={{ background: heat(share), color: share > 0.5 ? "#fff" : "#1f2328" }}
                        title={`true ${report.names[i]}, predicted ${report.names[j]}: ${count} of ${rowTotals[i]}`}
                      >
                        {normalized ? fmtNumber(Number(v.toFixed(3))) : v}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </section>
  );
}

export function Evaluation({ runId, paths, version }: { runId: string; paths: string[]; version: number }) {
  if (paths.length === 0) {
    return <div class="muted">No classification report logged (runbase.log_classification_report).</div>;
  }
  return (
    <div>
      {paths.map((p) => (
        <ReportPanel key={p} runId={runId} path={p} version={version} />
      ))}
    </div>
  );
}
