// Typed calls to the server: the UI API under /api/v1/ui and the native API under /api/v1.

export interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: string;
  creation_time: number;
  last_update_time: number;
  tags: Record<string, string>;
}

export interface ExperimentSummary {
  experiment: Experiment;
  run_count: number;
  last_activity: number | null;
}

export interface RunKeys {
  params: string[];
  metrics: string[];
  tags: string[];
}

export type ColumnKind = "param" | "metric" | "tag";
export type Agg = "last" | "min" | "max";

export interface Column {
  kind: ColumnKind;
  key: string;
  agg: Agg;
}

export type Cell = number | string | null;

export interface DatasetRef {
  name: string;
  digest: string;
  context: string;
}

export interface RunRow {
  run_id: string;
  run_name: string;
  experiment_id: string;
  status: string;
  user_id: string;
  start_time: number;
  end_time: number | null;
  parent_run_id: string | null;
  parent_run_name: string | null;
  child_count: number;
  datasets: DatasetRef[];
  values: Cell[];
}

export interface RunsPage {
  runs: RunRow[];
  next_page_token: string | null;
}

export interface RunsQuery {
  experiment_ids: string[];
  filter: string;
  order_by: string[];
  columns: Column[];
  page_token?: string | null;
  max_results?: number;
  top_level_only?: boolean;
  parent_run_id?: string | null;
}

export interface Summary {
  key: string;
  last: number | string;
  last_step: number;
  last_timestamp: number;
  min?: number | string | null;
  max?: number | string | null;
  count: number;
}

export interface RunInfo {
  run_id: string;
  experiment_id: string;
  run_name: string;
  user_id: string;
  status: string;
  start_time: number;
  end_time: number | null;
  artifact_uri: string;
  lifecycle_stage: string;
}

export interface DatasetInput {
  dataset: {
    name: string;
    digest: string;
    source_type: string;
    source: string;
    schema?: string;
    profile?: string;
  };
  tags?: Record<string, string>;
}

export interface Run {
  info: RunInfo;
  data: {
    params?: Record<string, string>;
    tags?: Record<string, string>;
    summaries?: Record<string, Summary>;
  };
  inputs?: { dataset_inputs?: DatasetInput[] };
}

export interface RunRef {
  run_id: string;
  run_name: string;
  status: string;
}

export interface ModelVersion {
  name: string;
  version: number;
  creation_timestamp: number;
  last_updated_timestamp: number;
  source: string;
  current_stage: string;
  description: string;
  user_id: string;
  run_id: string | null;
  status: string;
  model_id: string | null;
  tags: Record<string, string>;
  aliases: string[];
}

export interface LoggedModel {
  model_id: string;
  experiment_id: string;
  name: string;
  artifact_location: string;
  creation_timestamp_ms: number;
  status: string;
  model_type: string | null;
  source_run_id: string | null;
  tags: Record<string, string>;
  params: Record<string, string>;
}

export interface RegisteredModel {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  description: string;
  tags: Record<string, string>;
  aliases: Record<string, number>;
}

export interface RunDetail {
  run: Run;
  parent: RunRef | null;
  children: RunRef[];
  logged_models: LoggedModel[];
  model_versions: ModelVersion[];
  models_available: boolean;
}

export interface ImageSeries {
  key: string;
  steps: { step: number; timestamp: number; path: string }[];
}

export interface ArtifactFile {
  path: string;
  is_dir: boolean;
  file_size?: number | null;
}

export interface SeriesData {
  run_id: string;
  key: string;
  total: number;
  steps: number[];
  values: (number | null)[];
  timestamps: number[];
}

export interface SeriesAnswer {
  series: SeriesData[];
  start: number | null;
  end: number | null;
  buckets: number;
}

export interface SeriesQuery {
  run_ids: string[];
  keys: string[];
  buckets: number;
  start?: number | null;
  end?: number | null;
  timestamps?: boolean;
}

/** The tags runbase's sweeps put on their runs (the parent's id is the sweep's). */
export const SWEEP_TAGS = {
  id: "runbase.sweep.id",
  trial: "runbase.sweep.trial",
  name: "runbase.sweep.name",
} as const;

export interface TrialInfo {
  number: number;
  state: string;
  params: Record<string, number | string | boolean | null>;
  value: number | null;
  run_id: string | null;
  agent: string | null;
  started: number | null;
  completed: number | null;
  duration: number | null;
  last_step: number | null;
  retry_of: number | null;
  error: string | null;
  stale: boolean;
}

export interface SweepInfo {
  sweep_id: string;
  name: string;
  experiment_id: string;
  method: string;
  metric: string;
  goal: string;
  pruner: string;
  budget: number | null;
  created: number;
  counts: Record<string, number>;
  finished: boolean;
  best: TrialInfo | null;
  agents: { agent: string; alive: boolean; lease_expires: number }[];
  spec: Record<string, unknown>;
}

export interface HistoryPoint {
  number: number;
  state: string;
  value: number | null;
  best: number | null;
}

export interface IntermediateSeries {
  number: number;
  state: string;
  pruned: boolean;
  steps: number[];
  values: (number | null)[];
}

/** An error answer; filter errors carry where the text breaks the grammar. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly detail: string | null = null,
    readonly position: number | null = null,
    readonly subject: string | null = null,
    readonly text: string | null = null,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const text = await response.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data?.message ?? `${response.status} ${response.statusText}`;
    throw new ApiError(
      message,
      response.status,
      data?.error_code ?? "ERROR",
      data?.detail ?? null,
      typeof data?.position === "number" ? data.position : null,
      data?.subject ?? null,
      data?.text ?? null,
    );
  }
  return data as T;
}

const UI = "/api/v1/ui";
const SWEEPS = "/api/v1/sweeps";
const inFlight = new Map<string, Promise<SeriesAnswer>>();
const enc = encodeURIComponent;

export const api = {
  experiments: () =>
    call<{ experiments: ExperimentSummary[] }>("GET", `${UI}/experiments`).then((a) => a.experiments),
  experiment: (id: string) => call<Experiment>("GET", `/api/v1/experiments/${enc(id)}`),
  keys: (experimentIds: string[]) =>
    call<RunKeys>("GET", `${UI}/keys?${experimentIds.map((e) => `experiment_id=${enc(e)}`).join("&")}`),
  runs: (query: RunsQuery, signal?: AbortSignal) => call<RunsPage>("POST", `${UI}/runs`, query, signal),
  runsById: (runIds: string[]) =>
    call<{ runs: Run[] }>("POST", `${UI}/runs/get`, { run_ids: runIds }).then((a) => a.runs),
  run: (runId: string) => call<RunDetail>("GET", `${UI}/runs/${enc(runId)}`),
  images: (runId: string) =>
    call<{ images: ImageSeries[] }>("GET", `${UI}/runs/${enc(runId)}/images`).then((a) => a.images),
  artifacts: (runId: string, path: string) =>
    call<{ files: ArtifactFile[] }>("GET", `${UI}/runs/${enc(runId)}/artifacts?path=${enc(path)}`).then(
      (a) => a.files,
    ),
  series: (query: SeriesQuery) => {
    // Identical requests share one answer for a moment: a page may ask early (prefetch) and
    // its charts ask again when they mount.
    const key = JSON.stringify(query);
    let pending = inFlight.get(key);
    if (!pending) {
      pending = call<SeriesAnswer>("POST", `${UI}/series`, query);
      inFlight.set(key, pending);
      const forget = () => inFlight.delete(key);
      pending.then(() => window.setTimeout(forget, 2000), forget);
    }
    return pending;
  },
  models: () =>
    call<{ models: { model: RegisteredModel; versions: ModelVersion[] }[]; models_available: boolean }>(
      "GET",
      `${UI}/models`,
    ),
  sweeps: () => call<{ sweeps: SweepInfo[] }>("GET", `${SWEEPS}/`).then((a) => a.sweeps),
  sweep: (sweepId: string) => call<{ sweep: SweepInfo; trials: TrialInfo[] }>("GET", `${SWEEPS}/${enc(sweepId)}`),
  sweepHistory: (sweepId: string) =>
    call<{ metric: string; goal: string; points: HistoryPoint[] }>("GET", `${SWEEPS}/${enc(sweepId)}/history`),
  sweepIntermediate: (sweepId: string) =>
    call<{ metric: string; trials: IntermediateSeries[] }>("GET", `${SWEEPS}/${enc(sweepId)}/intermediate`).then(
      (a) => a.trials,
    ),
  sweepImportance: (sweepId: string, evaluator: string) =>
    call<{ evaluator: string; importances: Record<string, number> }>(
      "GET",
      `${SWEEPS}/${enc(sweepId)}/importance?evaluator=${enc(evaluator)}`,
    ).then((a) => a.importances),
};

/** The URL of one artifact file of a run: inline for previews, or as a download. */
export function artifactUrl(runId: string, path: string, download = false): string {
  return `${UI}/runs/${enc(runId)}/artifact?path=${enc(path)}${download ? "&download=1" : ""}`;
}

export async function artifactText(runId: string, path: string): Promise<string> {
  const response = await fetch(artifactUrl(runId, path));
  if (!response.ok) throw new ApiError(`${response.status} ${response.statusText}`, response.status, "ERROR");
  return response.text();
}
