// A run's artifacts: folders, and a preview of text, JSON, YAML, images and figures.
import { useEffect, useState } from "preact/hooks";
import { api, artifactText, artifactUrl, type ArtifactFile } from "../api";
import { fmtBytes } from "../format";

const IMAGE = /\.(png|jpe?g|gif|webp|svg)$/i;
const TEXT = /(\.(txt|log|md|rst|py|csv|tsv|json|ya?ml|toml|ini|cfg|conf|xml|sh|err|out)|MLmodel|MLproject|requirements\.txt)$/i;
const PREVIEW_LIMIT = 2 * 1024 * 1024;

function Preview({ runId, file }: { runId: string; file: ArtifactFile }) {
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const isImage = IMAGE.test(file.path);
  const isText = TEXT.test(file.path) && (file.file_size ?? 0) <= PREVIEW_LIMIT;
  useEffect(() => {
    setText(null);
    setError(null);
    if (!isText) return;
    artifactText(runId, file.path).then((body) => {
      if (/\.json$/i.test(file.path)) {
        try {
          setText(JSON.stringify(JSON.parse(body), null, 2));
          return;
        } catch {
          /* shown as it is */
        }
      }
      setText(body);
    }, (e: Error) => setError(e.message));
  }, [runId, file.path]);
  return (
    <div class="preview" data-preview={file.path}>
      <div class="preview-head">
        <span class="mono">{file.path}</span>
        <span class="muted">{fmtBytes(file.file_size)}</span>
        <a class="button-link" href={artifactUrl(runId, file.path, true)} download>
          Download
        </a>
      </div>
      {error && <div class="error">{error}</div>}
      {isImage && <img class="preview-image" src={artifactUrl(runId, file.path)} alt={file.path} />}
      {isText && text !== null && <pre class="preview-text">{text}</pre>}
      {!isImage && !isText && <div class="muted">No preview for this file type or size; download it.</div>}
    </div>
  );
}

export function Artifacts({ runId, version }: { runId: string; version: number }) {
  const [path, setPath] = useState("");
  const [files, setFiles] = useState<ArtifactFile[] | null>(null);
  const [chosen, setChosen] = useState<ArtifactFile | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setFiles(null);
    api.artifacts(runId, path).then(
      (found) => {
        setFiles(found);
        setError(null);
      },
      (e: Error) => setError(e.message),
    );
  }, [runId, path, version]);
  const parts = path ? path.split("/") : [];
  return (
    <div class="artifacts">
      <div class="artifact-list">
        <div class="breadcrumbs">
          <button type="button" class="link" onClick={() => setPath("")}>
            artifacts
          </button>
          {parts.map((part, i) => (
            <span key={i}>
              {" / "}
              <button type="button" class="link" onClick={() => setPath(parts.slice(0, i + 1).join("/"))}>
                {part}
              </button>
            </span>
          ))}
        </div>
        {error && <div class="error">{error}</div>}
        {files !== null && files.length === 0 && <div class="muted">No artifacts here.</div>}
        <ul class="files">
          {(files ?? []).map((f) => (
            <li key={f.path} class={chosen?.path === f.path ? "active" : ""}>
              <button
                type="button"
                class="link file-entry"
                data-path={f.path}
                onClick={() => (f.is_dir ? setPath(f.path) : setChosen(f))}
              >
                {f.is_dir ? "📁 " : "📄 "}
                {f.path.split("/").pop()}
              </button>
              <span class="muted">{f.is_dir ? "" : fmtBytes(f.file_size)}</span>
            </li>
          ))}
        </ul>
      </div>
      <div class="artifact-preview">{chosen ? <Preview runId={runId} file={chosen} /> : <div class="muted">Choose a file to preview it.</div>}</div>
    </div>
  );
}
