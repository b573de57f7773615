"""Artifact repositories: where a run's files are stored, and the path rules they all follow."""

from __future__ import annotations

from runbase.artifacts._local import LocalArtifactRepository
from runbase.artifacts._paths import safe_relative_path
from runbase.artifacts._registry import get_artifact_repository
from runbase.artifacts._s3 import S3ArtifactRepository
from runbase.artifacts.base import ArtifactRepository, FileInfo

__all__ = [
    "ArtifactRepository",
    "FileInfo",
    "LocalArtifactRepository",
    "S3ArtifactRepository",
    "get_artifact_repository",
    "safe_relative_path",
]
