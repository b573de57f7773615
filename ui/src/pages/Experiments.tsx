// The home page: every experiment with its number of runs and last activity.
import { useEffect, useState } from "preact/hooks";
import { api, type ExperimentSummary } from "../api";
import { fmtAgo, fmtTime } from "../format";
import { href } from "../router";
import { registerView } from "../views";

function ExperimentsPage() {
  const [items, setItems] = useState<ExperimentSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [search, setSearch] = useState("");
  useEffect(() => {
    api.experiments().then(setItems, (e: Error) => setError(e.message));
  }, []);
  const shown = (items ?? [])
    .filter((e) => e.experiment.name.toLowerCase().includes(search.toLowerCase()))
    .sort((a, b) => (b.last_activity ?? 0) - (a.last_activity ?? 0));
  return (
    <div class="page">
      <div class="page-head">
        <h1>Experiments</h1>
        <input type="search" placeholder="Search experiments" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
      </div>
      {error && <div class="error">{error}</div>}
      {items === null && !error && <div class="muted">Loading…</div>}
      <table class="simple experiments-table">
        <thead>
          <tr>
            <th>Name</th>
            <th class="num">Runs</th>
            <th>Last activity</th>
            <th>Created</th>
            <th>ID</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((e) => (
            <tr key={e.experiment.experiment_id} data-experiment-id={e.experiment.experiment_id}>
              <td>
                <a href={href(`/experiments/${e.experiment.experiment_id}`)}>{e.experiment.name}</a>
              </td>
              <td class="num run-count">{e.run_count}</td>
              <td title={fmtTime(e.last_activity)}>{fmtAgo(e.last_activity)}</td>
              <td>{fmtTime(e.experiment.creation_time)}</td>
              <td class="mono">{e.experiment.experiment_id}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

registerView({ name: "experiments", pattern: "/", component: ExperimentsPage, navLabel: "Experiments", navPath: "/" });
