"""Every stage's tables, imported onto the shared metadata (for autogenerate and schema checks)."""

from __future__ import annotations

from sqlalchemy import MetaData


def target_metadata() -> MetaData:
    """Import each stage's tables module and return the metadata they share."""
    import lmops.data.tables
    import lmops.evaluation.tables
    import lmops.governance.tables
    import lmops.prompts.tables
    import lmops.registry.tables
    import lmops.serving.tables
    import lmops.store.audit
    import lmops.store.lineage
    import lmops.tracing.tables
    import lmops.tracking.tables  # noqa: F401
    from lmops.store.metadata import metadata

    return metadata
