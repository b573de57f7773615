"""Small helpers the browser tests share."""

from __future__ import annotations

from typing import Any


def painted(canvas: Any) -> bool:
    """Whether a canvas (a Playwright locator) has anything drawn on it."""
    return bool(
        canvas.evaluate(
            "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; }"
        )
    )
