// The model registry: registered models, their versions, aliases and source runs.
import { useEffect, useState } from "preact/hooks";
import { api, type ModelVersion, type RegisteredModel } from "../api";
import { fmtTime, shortId } from "../format";
import { href } from "../router";
import { registerView, type ViewProps } from "../views";

export function VersionsTable({ versions, showName = false }: { versions: ModelVersion[]; showName?: boolean }) {
  return (
    <table class="simple versions-table">
      <thead>
        <tr>
          {showName && <th>Model</th>}
          <th>Version</th>
          <th>Aliases</th>
          <th>Stage</th>
          <th>Status</th>
          <th>Source run</th>
          <th>Source</th>
          <th>Created</th>
        </tr>
      </thead>
      <tbody>
        {versions.map((v) => (
          <tr key={`${v.name}:${v.version}`}>
            {showName && (
              <td>
                <a href={href(`/models/${encodeURIComponent(v.name)}`)}>{v.name}</a>
              </td>
            )}
            <td class="num">v{v.version}</td>
            <td>
              {v.aliases.map((a) => (
                <span class="chip" key={a}>
                  @{a}
                </span>
              ))}
            </td>
            <td>{v.current_stage}</td>
            <td>{v.status}</td>
            <td>{v.run_id ? <a href={href(`/runs/${v.run_id}`)}>{shortId(v.run_id)}</a> : ""}</td>
            <td class="mono small" title={v.source}>
              {v.source}
            </td>
            <td>{fmtTime(v.creation_timestamp)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ModelsPage({ args }: ViewProps) {
  const [data, setData] = useState<{ model: RegisteredModel; versions: ModelVersion[] }[] | null>(null);
  const [available, setAvailable] = useState(true);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.models().then(
      (answer) => {
        setData(answer.models);
        setAvailable(answer.models_available);
      },
      (e: Error) => setError(e.message),
    );
  }, []);
  const only = args.name;
  const shown = (data ?? []).filter((m) => !only || m.model.name === only);
  return (
    <div class="page models-page">
      <div class="page-head">
        <h1>
          {only ? (
            <>
              <a href={href("/models")}>Models</a> / {only}
            </>
          ) : (
            "Registered models"
          )}
        </h1>
      </div>
      {error && <div class="error">{error}</div>}
      {!available && <div class="muted">This server's store keeps no model registry.</div>}
      {data !== null && shown.length === 0 && <div class="muted">No registered models yet.</div>}
      {shown.map(({ model, versions }) => (
        <section class="card model-card" key={model.name} data-model={model.name}>
          <h2>
            <a href={href(`/models/${encodeURIComponent(model.name)}`)}>{model.name}</a>
          </h2>
          {model.description && <p>{model.description}</p>}
          <div class="kv-line">
            <span class="muted">Aliases: </span>
            {Object.keys(model.aliases).length === 0 && <span class="muted">none</span>}
            {Object.entries(model.aliases).map(([alias, version]) => (
              <span class="chip alias" key={alias}>
                @{alias} → v{version}
              </span>
            ))}
            <span class="muted"> · {versions.length} versions · updated {fmtTime(model.last_updated_timestamp)}</span>
          </div>
          {Object.keys(model.tags).length > 0 && (
            <div class="kv-line">
              {Object.entries(model.tags).map(([k, v]) => (
                <span class="chip" key={k}>
                  {k}={v}
                </span>
              ))}
            </div>
          )}
          <VersionsTable versions={versions} />
        </section>
      ))}
    </div>
  );
}

registerView({ name: "models", pattern: "/models", component: ModelsPage, navLabel: "Models", navPath: "/models" });
registerView({ name: "model", pattern: "/models/:name", component: ModelsPage });
