"""Turning images, figures and dicts into artifact bytes. Heavy libraries are imported lazily."""

from __future__ import annotations

import io
import json
from typing import Any

from runbase.errors import InvalidInputError


def _missing(package: str, extra: str) -> InvalidInputError:
    return InvalidInputError(
        f"This needs {package}, which is not installed: pip install 'runbase[{extra}]'"
    )


def image_to_png(image: Any) -> bytes:
    """PNG bytes for a PIL image or a numpy array (H×W, H×W×1/3/4; uint8, or floats in [0, 1])."""
    try:
        from PIL import Image
    except ModuleNotFoundError:
        raise _missing("Pillow", "images") from None
    if not isinstance(image, Image.Image):
        image = Image.fromarray(_as_uint8_array(image))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _as_uint8_array(image: Any) -> Any:
    import numpy as np

    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InvalidInputError(
            f"An image must be H×W, H×W×1, H×W×3 or H×W×4; got an array of shape {array.shape}"
        )
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind == "b":
        return array.astype(np.uint8) * 255
    if array.dtype.kind in "iu":
        if array.size and (array.min() < 0 or array.max() > 255):
            raise InvalidInputError("Integer image values must lie in [0, 255]")
        return array.astype(np.uint8)
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or (array.size and (array.min() < 0 or array.max() > 1)):
            raise InvalidInputError("Float image values must be finite and lie in [0, 1]")
        return (array * 255).round().astype(np.uint8)
    raise InvalidInputError(f"Unsupported image dtype {array.dtype}")


def figure_to_bytes(figure: Any, artifact_file: str) -> bytes:
    """Bytes of a matplotlib figure (format from the file extension) or a plotly figure (HTML)."""
    module = type(figure).__module__
    if module.startswith("matplotlib"):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=artifact_file.rsplit(".", 1)[-1].lower(), bbox_inches="tight")
        return buffer.getvalue()
    if module.startswith("plotly"):
        if not artifact_file.lower().endswith(".html"):
            raise InvalidInputError("A plotly figure is saved as HTML: use an .html artifact_file")
        return str(figure.to_html(include_plotlyjs="cdn")).encode()
    raise InvalidInputError(
        f"Unsupported figure type {type(figure).__qualname__}: expected matplotlib or plotly"
    )


def dict_to_bytes(data: Any, artifact_file: str) -> bytes:
    """JSON, or YAML when the file ends in .yaml/.yml (needs PyYAML)."""
    if artifact_file.lower().endswith((".yaml", ".yml")):
        try:
            import yaml
        except ModuleNotFoundError:
            raise InvalidInputError(
                "Writing YAML needs PyYAML (pip install pyyaml), or use a .json artifact_file"
            ) from None
        return str(yaml.safe_dump(data, sort_keys=False)).encode()
    return json.dumps(data, indent=2, default=str).encode()
