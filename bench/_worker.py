"""Runs one measurement in a fresh interpreter: ``python _worker.py MODULE FUNC PARAMS OUT``.

Started by ``run.py`` with runbase's or MLflow's interpreter, with a new temporary folder as the
working directory. The result goes to the file ``OUT`` as JSON, not to stdout, which the tools
under test may write to.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    module_name, func_name, params, out = argv
    case = getattr(importlib.import_module(module_name), func_name)
    result = case(**json.loads(params))
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
