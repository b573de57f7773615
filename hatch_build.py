"""Build hook: compile the web UI (``ui/``, TypeScript + Vite) into the package.

The compiled files land in ``src/runbase/server/_ui_dist/``, a git-ignored folder that the
wheel ships (``artifacts`` in pyproject.toml); ``runbase server`` and ``runbase ui`` serve it.
Without Node.js and npm the build carries on with a warning: the server then answers ``/`` with
a page explaining how to build the UI. ``RUNBASE_SKIP_UI_BUILD=1`` skips the step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

DIST = Path("src/runbase/server/_ui_dist")
INPUTS = (
    "src",
    "index.html",
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "vite.config.ts",
)


def _newest_input(ui: Path) -> float:
    newest = 0.0
    for name in INPUTS:
        path = ui / name
        files = path.rglob("*") if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                newest = max(newest, file.stat().st_mtime)
    return newest


def build_ui(root: Path, *, force: bool = False) -> str:
    """Compile the UI when its sources are newer than the build; return what happened."""
    ui = root / "ui"
    index = root / DIST / "index.html"
    if not (ui / "package.json").is_file():
        return "no ui/ sources here: keeping the compiled UI as it is"
    if not force and index.is_file() and index.stat().st_mtime >= _newest_input(ui):
        return "the web UI is up to date"
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        state = "the previous build is kept" if index.is_file() else "it will show a page saying so"
        return f"WARNING: Node.js/npm not found, the web UI is not compiled ({state})"
    installed = ui / "node_modules" / ".package-lock.json"
    lock = ui / "package-lock.json"
    if not installed.is_file() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ui, check=True)
    subprocess.run([npm, "run", "build"], cwd=ui, check=True)
    return "compiled the web UI"


if __name__ == "__main__":  # `python hatch_build.py [--force]`: what `make ui` runs, no hatchling
    print(build_ui(Path(__file__).resolve().parent, force="--force" in sys.argv[1:]))
else:  # loaded by hatchling during a build
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface

    class UiBuildHook(BuildHookInterface):  # type: ignore[type-arg]
        PLUGIN_NAME = "custom"

        def initialize(self, version: str, build_data: dict[str, Any]) -> None:
            if self.target_name != "wheel":
                return
            if os.environ.get("RUNBASE_SKIP_UI_BUILD"):
                self.app.display_warning("RUNBASE_SKIP_UI_BUILD is set: not compiling the web UI")
                return
            message = build_ui(Path(self.root))
            if message.startswith("WARNING"):
                self.app.display_warning(message)
            else:
                self.app.display_info(message)
