// One run: params, metrics and tags, every metric as a chart, system metrics, images by step,
// artifacts, datasets, models, parent and children. Polls while the run is RUNNING.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, SWEEP_TAGS, type RunDetail, type Summary } from "../api";
import { Artifacts } from "../components/Artifacts";
import { Evaluation, evaluationPaths } from "../components/Evaluation";
import { Images } from "../components/Images";
import { MetricCharts } from "../components/MetricCharts";
import { Status } from "../components/Status";
import { fmtDuration, fmtNumber, fmtTime, runDuration, shortId } from "../format";
import { href, updateParams } from "../router";
import { registerView, type ViewProps } from "../views";
import { VersionsTable } from "./Models";

const POLL_MS = 3000;
const TABS = [
  ["overview", "Overview"],
  ["charts", "Charts"],
  ["system", "System metrics"],
  ["images", "Images"],
  ["evaluation", "Evaluation"],
  ["artifacts", "Artifacts"],
  ["models", "Models"],
] as const;

function KeyValues({ title, values, searchable = false }: { title: string; values: Record<string, string>; searchable?: boolean }) {
  const [search, setSearch] = useState("");
  const entries = Object.entries(values)
    .filter(([k, v]) => `${k} ${v}`.toLowerCase().includes(search.toLowerCase()))
    .sort(([a], [b]) => a.localeCompare(b));
  return (
    <section class="card">
      <div class="card-head">
        <h3>
          {title} <span class="muted">({Object.keys(values).length})</span>
        </h3>
        {searchable && (
          <input type="search" class="params-search" placeholder={`Search ${title.toLowerCase()}`} value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        )}
      </div>
      <table class="simple kv">
        <tbody>
          {entries.map(([k, v]) => (
            <tr key={k}>
              <td class="key">{k}</td>
              <td class="value">{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {entries.length === 0 && <div class="muted">none</div>}
    </section>
  );
}

function Summaries({ summaries }: { summaries: Summary[] }) {
  return (
    <section class="card">
      <h3>
        Metrics <span class="muted">({summaries.length})</span>
      </h3>
      <table class="simple summaries">
        <thead>
          <tr>
            <th>Metric</th>
            <th class="num">Last</th>
            <th class="num">Min</th>
            <th class="num">Max</th>
            <th class="num">Last step</th>
            <th class="num">Points</th>
          </tr>
        </thead>
        <tbody>
          {summaries.map((s) => (
            <tr key={s.key}>
              <td class="key">{s.key}</td>
              <td class="num">{fmtNumber(s.last)}</td>
              <td class="num">{fmtNumber(s.min ?? null)}</td>
              <td class="num">{fmtNumber(s.max ?? null)}</td>
              <td class="num">{s.last_step}</td>
              <td class="num">{s.count}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function RunPage({ args, params }: ViewProps) {
  const runId = args.id as string;
  const tab = params.get("tab") ?? "overview";
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);

  useEffect(() => {
    setDetail(null);
    api.run(runId).then(setDetail, (e: Error) => setError(e.message));
  }, [runId]);

  const running = detail?.run.info.status === "RUNNING";
  useEffect(() => {
    if (!running) return undefined;
    const timer = window.setInterval(() => {
      api.run(runId).then((fresh) => {
        setDetail(fresh);
        setVersion((v) => v + 1);
      });
    }, POLL_MS);
    return () => window.clearInterval(timer);
  }, [runId, running]);

  const summaries = useMemo(() => Object.values(detail?.run.data.summaries ?? {}).sort((a, b) => a.key.localeCompare(b.key)), [detail]);
  const metricKeys = useMemo(() => summaries.map((s) => s.key).filter((k) => !k.startsWith("system/")), [summaries]);
  const systemKeys = useMemo(() => summaries.map((s) => s.key).filter((k) => k.startsWith("system/")), [summaries]);

  if (error) return <div class="page error">{error}</div>;
  if (!detail) return <div class="page muted">Loading…</div>;
  const { info } = detail.run;
  const tags = detail.run.data.tags ?? {};
  const userTags = Object.fromEntries(Object.entries(tags).filter(([k]) => !k.startsWith("mlflow.")));
  const systemTags = Object.fromEntries(Object.entries(tags).filter(([k]) => k.startsWith("mlflow.")));
  const inputs = detail.run.inputs?.dataset_inputs ?? [];
  const sweepId = tags[SWEEP_TAGS.id];
  const evaluations = evaluationPaths(tags);

  return (
    <div class="page run-page">
      <div class="page-head">
        <h1>
          <a href={href(`/experiments/${info.experiment_id}`)}>Runs</a> / <span class="run-name">{info.run_name}</span>{" "}
          <Status status={info.status} />
          {running && <span class="live">live</span>}
        </h1>
      </div>
      <div class="run-meta">
        <span>
          <span class="muted">id</span> <span class="mono">{info.run_id}</span>
        </span>
        <span>
          <span class="muted">started</span> {fmtTime(info.start_time)}
        </span>
        <span>
          <span class="muted">duration</span> {fmtDuration(runDuration(info.start_time, info.end_time, info.status))}
        </span>
        {info.user_id && (
          <span>
            <span class="muted">user</span> {info.user_id}
          </span>
        )}
        {sweepId && (
          <span class="sweep-link">
            <span class="muted">{sweepId === info.run_id ? "sweep" : `trial #${tags[SWEEP_TAGS.trial] ?? "?"} of sweep`}</span>{" "}
            <a href={href(`/sweeps/${sweepId}`)}>{tags[SWEEP_TAGS.name] ?? shortId(sweepId)}</a>
          </span>
        )}
        {detail.parent && (
          <span class="parent-link">
            <span class="muted">parent</span>{" "}
            <a href={href(`/runs/${detail.parent.run_id}`)}>{detail.parent.run_name || shortId(detail.parent.run_id)}</a>
          </span>
        )}
      </div>
      <nav class="tabs" role="tablist">
        {TABS.map(([id, label]) => (
          <button
            type="button"
            key={id}
            role="tab"
            aria-selected={tab === id}
            class={tab === id ? "tab active" : "tab"}
            onClick={() => updateParams({ tab: id === "overview" ? null : id }, false)}
          >
            {label}
            {id === "charts"
              ? ` (${metricKeys.length})`
              : id === "system"
                ? ` (${systemKeys.length})`
                : id === "evaluation"
                  ? ` (${evaluations.length})`
                  : ""}
          </button>
        ))}
      </nav>
      {tab === "overview" && (
        <div class="overview-grid">
          <KeyValues title="Params" values={detail.run.data.params ?? {}} searchable />
          <Summaries summaries={summaries} />
          <KeyValues title="Tags" values={userTags} />
          <section class="card">
            <h3>Datasets</h3>
            {inputs.length === 0 && <div class="muted">none</div>}
            <table class="simple datasets">
              <tbody>
                {inputs.map((d) => (
                  <tr key={`${d.dataset.name}:${d.dataset.digest}:${d.tags?.["mlflow.data.context"] ?? ""}`}>
                    <td class="key">{d.dataset.name}</td>
                    <td class="mono">{d.dataset.digest}</td>
                    <td>{d.tags?.["mlflow.data.context"] ?? ""}</td>
                    <td class="small" title={d.dataset.source}>
                      {d.dataset.source_type}: {d.dataset.source}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <section class="card children">
            <h3>
              Child runs <span class="muted">({detail.children.length})</span>
            </h3>
            {detail.children.length === 0 && <div class="muted">none</div>}
            <ul class="plain">
              {detail.children.map((c) => (
                <li key={c.run_id}>
                  <a href={href(`/runs/${c.run_id}`)}>{c.run_name || shortId(c.run_id)}</a> <Status status={c.status} />
                </li>
              ))}
            </ul>
          </section>
          <KeyValues title="System tags" values={systemTags} />
        </div>
      )}
      {tab === "charts" && <MetricCharts runId={runId} keys={metricKeys} version={version} emptyText="No metrics logged." />}
      {tab === "system" && (
        <MetricCharts runId={runId} keys={systemKeys} version={version} emptyText="No system metrics (keys system/...) logged." />
      )}
      {tab === "images" && <Images runId={runId} version={version} />}
      {tab === "evaluation" && <Evaluation runId={runId} paths={evaluations} version={version} />}
      {tab === "artifacts" && <Artifacts runId={runId} version={version} />}
      {tab === "models" && (
        <div>
          <section class="card">
            <h3>Logged models</h3>
            {!detail.models_available && <div class="muted">This server's store keeps no models.</div>}
            {detail.logged_models.length === 0 && detail.models_available && <div class="muted">none</div>}
            <table class="simple logged-models">
              <tbody>
                {detail.logged_models.map((m) => (
                  <tr key={m.model_id}>
                    <td class="key">{m.name}</td>
                    <td class="mono">{m.model_id}</td>
                    <td>{m.model_type ?? ""}</td>
                    <td>{m.status}</td>
                    <td>{fmtTime(m.creation_timestamp_ms)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <section class="card">
            <h3>Registered versions from this run</h3>
            {detail.model_versions.length === 0 ? <div class="muted">none</div> : <VersionsTable versions={detail.model_versions} showName />}
          </section>
        </div>
      )}
    </div>
  );
}

registerView({ name: "run", pattern: "/runs/:id", component: RunPage });
