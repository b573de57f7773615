"""The live progress line of a sweep: trials done, running, pruned and failed, the best so far,
and an estimate of the time left."""

from __future__ import annotations

import time
from typing import TextIO

from runbase.sweeps._results import SweepInfo, TrialInfo

__all__ = ["Progress", "clock"]


def clock(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Redraws one line on a terminal; elsewhere prints a line whenever the counts change."""

    def __init__(self, out: TextIO, *, enabled: bool = True) -> None:
        self.out = out
        self.enabled = enabled
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._last = ""

    def line(self, info: SweepInfo, trials: list[TrialInfo]) -> str:
        c = info.counts
        stale = sum(1 for t in trials if t.stale)
        finished = c["COMPLETE"] + c["PRUNED"] + c["FAIL"] - stale
        budget = info.budget
        head = f"{finished}/{budget} done" if budget else f"{finished} done"
        parts = [
            head,
            f"{c['COMPLETE']} complete",
            f"{c['PRUNED']} pruned",
            f"{c['FAIL'] - stale} failed",
            f"{c['RUNNING']} running",
        ]
        if stale:
            parts.append(f"{stale} re-run after an agent died")
        if info.best is not None and info.best.value is not None:
            parts.append(f"best {info.metric} {info.best.value:.6g} (trial {info.best.number})")
        elapsed = time.monotonic() - self.started
        text = " · ".join(parts) + f" · {clock(elapsed)}"
        durations = [t.duration for t in trials if t.completed is not None and t.duration]
        if budget and durations and not info.finished:
            used = sum(1 for t in trials if t.retry_of is None)
            left = max(budget - used, 0) + c["RUNNING"] + c["WAITING"]
            agents = max(sum(1 for a in info.agents if a.alive), 1)
            eta = sum(durations) / len(durations) * left / agents
            text += f", ETA {clock(eta)}"
        return text

    def update(self, info: SweepInfo, trials: list[TrialInfo]) -> None:
        if not self.enabled:
            return
        text = self.line(info, trials)
        if self.tty:
            self.out.write("\r\x1b[K" + text)
            self.out.flush()
        elif text.split(" · ")[:5] != self._last.split(" · ")[:5]:
            self.out.write(text + "\n")
            self.out.flush()
        self._last = text

    def close(self) -> None:
        if self.enabled and self.tty and self._last:
            self.out.write("\n")
            self.out.flush()
