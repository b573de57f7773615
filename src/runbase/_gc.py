"""Garbage collection: free what deleted runs leave behind, artifacts included.

Deleting a run (``runbase.delete_run``, the UI, MLflow's client) only marks it, so it can be
restored. ``runbase gc`` removes deleted runs for good: first each run's artifacts, then the
run and everything the store holds of it. A run whose artifacts cannot be removed is kept (and
reported), so nothing is left pointing at files that are gone, and running gc again retries.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from runbase.artifacts import get_artifact_repository
from runbase.errors import InvalidInputError, RunbaseError
from runbase.store import Store, is_remote, resolve_uri
from runbase.store.base import DeletedRun, now_ms

__all__ = ["GcSummary", "collect", "parse_age"]

_AGE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_SECONDS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_age(text: str) -> float:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"2w"`` or plain seconds, as seconds."""
    found = _AGE.match(text)
    if not found:
        raise InvalidInputError(
            f"Invalid age {text!r}: expected a number with s, m, h, d or w (e.g. 30d)"
        )
    return float(found[1]) * _SECONDS[found[2]]


@dataclass
class GcSummary:
    purged: list[str] = field(default_factory=list)
    #: Runs kept because their artifacts could not be removed, with the reason.
    kept: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False

    def text(self) -> str:
        verb = "Would purge" if self.dry_run else "Purged"
        lines = [f"{verb} {len(self.purged)} deleted runs and their artifacts"]
        lines += [f"kept {run_id}: {why}" for run_id, why in self.kept.items()]
        return "\n".join(lines)


def collect(
    store: Store,
    tracking_uri: str,
    *,
    older_than: float | None = None,
    run_ids: list[str] | None = None,
    dry_run: bool = False,
    say: Callable[[str], None] = lambda _text: None,
) -> GcSummary:
    """Purge the deleted runs of ``store`` — those deleted more than ``older_than`` seconds ago,
    or only ``run_ids`` — artifacts first. ``dry_run`` lists them and changes nothing."""
    before = None if older_than is None else now_ms() - round(older_than * 1000)
    candidates = store.deleted_runs(before)
    if run_ids:
        by_id = {run.run_id: run for run in store.deleted_runs()}
        missing = [r for r in run_ids if r not in by_id]
        if missing:
            raise InvalidInputError(f"Not deleted runs (or unknown): {', '.join(missing)}")
        candidates = [by_id[r] for r in run_ids]
    summary = GcSummary(dry_run=dry_run)
    server = resolve_uri(tracking_uri) if is_remote(tracking_uri) else None
    for run in candidates:
        if dry_run:
            summary.purged.append(run.run_id)
            say(f"would purge {run.run_id} ({run.artifact_uri})")
            continue
        why = _remove_artifacts(run, server)
        if why is not None:
            summary.kept[run.run_id] = why
            say(f"kept {run.run_id}: {why}")
            continue
        store.purge_run(run.run_id)
        summary.purged.append(run.run_id)
        say(f"purged {run.run_id}")
    return summary


def _remove_artifacts(run: DeletedRun, server: str | None) -> str | None:
    """Remove a run's artifacts; the reason when they could not be."""
    if not run.artifact_uri:
        return None
    try:
        repo = get_artifact_repository(run.artifact_uri, tracking_uri=server)
        try:
            repo.delete_artifacts(None)
        finally:
            close = getattr(repo, "close", None)
            if close is not None:
                close()
    except (RunbaseError, OSError) as exc:
        return f"could not remove its artifacts at {run.artifact_uri}: {exc}"
    return None
