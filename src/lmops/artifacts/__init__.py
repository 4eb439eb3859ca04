"""Content-addressed bytes: files and directories named by their sha256."""

from lmops.artifacts.store import ArtifactStore, Blob, open_artifact_store

__all__ = ["ArtifactStore", "Blob", "open_artifact_store"]
