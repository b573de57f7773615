"""What every route of the server shares: the stores and the artifact destination."""

from __future__ import annotations

from dataclasses import dataclass

from runbase.artifacts import ArtifactRepository
from runbase.errors import RunbaseError
from runbase.store import ModelStore, Store


class ModelsUnavailableError(RunbaseError):
    """The server's tracking store keeps no logged models or registry (a 501)."""

    error_code = "NOT_IMPLEMENTED"


@dataclass(frozen=True)
class ServerContext:
    """Built once by ``create_app``; handlers receive it and hold no other state, so several
    server processes can serve one database."""

    store: Store
    #: Root of ``--artifacts-destination``; ``mlflow-artifacts:/<path>`` maps to ``<root>/<path>``.
    artifacts: ArtifactRepository
    serve_artifacts: bool = True
    #: Logged models and the registry; None uses the tracking store's own (``SqlStore.models``,
    #: which shares its connections).
    model_store: ModelStore | None = None

    @property
    def models(self) -> ModelStore:
        """The model store; a route that needs one answers 501 without it."""
        models = self.models_if_kept
        if models is None:
            raise ModelsUnavailableError(
                f"This server's store ({type(self.store).__name__}) keeps no logged models or "
                "model registry"
            )
        return models

    @property
    def models_if_kept(self) -> ModelStore | None:
        if self.model_store is not None:
            return self.model_store
        models = getattr(self.store, "models", None)
        return models if isinstance(models, ModelStore) else None
