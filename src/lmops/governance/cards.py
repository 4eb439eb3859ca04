"""Model cards generated from what lmops already knows about a version.

The card is markdown: what the model is (its format record), where it came from (the run
that produced it, with params and metrics; the dataset versions that fed the run or the
version; the base model), its evaluation results (the results attached to the version,
which policies read, and its `eval.*` tags), and sections people fill in (intended use,
limitations). Saving it makes a new revision; editing keeps every earlier one.

A card describes only what its stores' project holds. A run, dataset version or base
version it links to in another project (or one that is gone) is named "not accessible",
never by its name or content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lmops.core.errors import InvalidInput, LmopsError
from lmops.data.store import DataStore
from lmops.registry.entities import ModelCard, ModelVersion
from lmops.registry.results import list_results
from lmops.registry.store import RegistryStore
from lmops.store.lineage import Edge, edges
from lmops.tracking.entities import Run
from lmops.tracking.store import TrackingStore

EVAL_PREFIX = "eval."
TODO = "_To be written: {what}._"
NOT_ACCESSIBLE = "not accessible from this project (or no longer there)"


@dataclass(frozen=True)
class Stores:
    """The stores the cross-stage views read, all working in one project."""

    registry: RegistryStore
    tracking: TrackingStore
    data: DataStore


def generate_card(stores: Stores, uri: str) -> ModelCard:
    """Write a card for version `uri` from its lineage and save it as the next revision."""
    version = stores.registry.get_version(uri)
    markdown = render_card(stores, version)
    return stores.registry.save_card(version.id, markdown, generated=True)


def edit_card(registry: RegistryStore, version_id: str, markdown: str) -> ModelCard:
    """Save markdown a person wrote as the next revision of a version's card; never blank."""
    if isinstance(markdown, str) and not markdown.strip():
        raise InvalidInput("the card is empty: write its markdown", field="markdown")
    return registry.save_card(version_id, markdown, generated=False)


def render_card(stores: Stores, version: ModelVersion) -> str:
    upstream = edges(stores.registry.engine, "model_version", version.id, direction="upstream")
    run_edge = next((e for e in upstream if e.from_kind == "run"), None)
    run = _run(stores, run_edge.from_id) if run_edge is not None else None
    sections = [
        _summary(version),
        _training(stores, run, linked=run_edge is not None),
        _data(stores, upstream, run),
        _base(stores, version),
        _evaluation(stores.registry, version),
        f"## Intended use\n\n{TODO.format(what='who should use this model, and for what')}",
        f"## Limitations\n\n{TODO.format(what='where it fails, known biases, out-of-scope uses')}",
        f"## Licence\n\n{version.format.license or TODO.format(what='the licence')}",
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _summary(version: ModelVersion) -> str:
    fmt = version.format
    rows = [
        ("URI", f"`{version.uri}`"),
        ("Aliases", ", ".join(f"`@{a}`" for a in version.aliases) or "none"),
        ("Kind", fmt.kind),
        ("Task", fmt.task),
        ("Architecture", fmt.architecture),
        ("Parameters", f"{fmt.parameter_count:,}" if fmt.parameter_count else None),
        ("Weights dtype", fmt.dtype),
        ("Size", f"{fmt.size_bytes:,} bytes" if fmt.size_bytes else None),
        (
            "Tokenizer",
            ("yes, with a chat template" if fmt.chat_template else "yes")
            if fmt.tokenizer
            else "no",
        ),
        (
            "Files (sha256)",
            f"`{version.digest}`" if version.digest else "none: an external endpoint",
        ),
        ("Registered", f"{version.created_at:%Y-%m-%d %H:%M} UTC"),
    ]
    if version.source.type == "external":
        rows.append(
            ("Endpoint", f"{version.source.endpoint_url} (model `{version.source.endpoint_model}`)")
        )
    table = "\n".join(f"| {k} | {v} |" for k, v in rows if v is not None)
    description = version.description or TODO.format(what="what this model is")
    return (
        f"# {version.model_name} v{version.version}\n\n{description}\n\n| | |\n|---|---|\n{table}"
    )


def _run(stores: Stores, run_id: str) -> Run | None:
    try:
        return stores.tracking.get_run(run_id)
    except LmopsError:
        return None


def _training(stores: Stores, run: Run | None, *, linked: bool) -> str:
    if run is None and linked:
        return f"## Training\n\nProduced by a run {NOT_ACCESSIBLE}."
    if run is None:
        return "## Training\n\nNot produced by a tracked run (imported or built)."
    experiment = stores.tracking.get_experiment(run.experiment_id).name
    lines = [
        f"## Training\n\nRun **{run.name}** (`runs:/{run.id}`) in experiment **{experiment}**."
    ]
    if run.params:
        lines.append(_table(("Parameter", "Value"), sorted(run.params.items())))
    if run.metrics:
        lines.append(
            _table(
                ("Metric", "Last value"), [(k, f"{v:.6g}") for k, v in sorted(run.metrics.items())]
            )
        )
    return "\n\n".join(lines)


def _data(stores: Stores, upstream: list[Edge], run: Run | None) -> str:
    found = [e for e in upstream if e.from_kind == "dataset_version"]
    if run is not None:
        run_edges = edges(stores.registry.engine, "run", run.id, direction="upstream")
        found += [e for e in run_edges if e.from_kind == "dataset_version"]
    rows = []
    for edge in found:
        try:
            v = stores.data.get_version_by_id(edge.from_id)
        except LmopsError:
            rows.append((f"_{NOT_ACCESSIBLE}_", "", "", edge.relation))
            continue
        rows.append((f"`{v.uri}`", f"{v.row_count:,}", str(v.recipe.get("op", "")), edge.relation))
    if not rows:
        return "## Data\n\nNo dataset version is linked to this model or its run."
    return "## Data\n\n" + _table(("Dataset version", "Rows", "Made by", "Relation"), rows)


def _base(stores: Stores, version: ModelVersion) -> str:
    if version.base_version_id is not None:
        try:
            base = stores.registry.get_version_by_id(version.base_version_id)
        except LmopsError:
            return f"## Base model\n\nAn adapter over a version {NOT_ACCESSIBLE}."
        kind = base.format.architecture or "model"
        return f"## Base model\n\nAn adapter over `{base.uri}` ({kind})."
    if version.format.base_model:
        return f"## Base model\n\n{version.format.base_model}"
    return ""


def _evaluation(registry: RegistryStore, version: ModelVersion) -> str:
    """Attached results (what policies read), then `eval.*` tags they do not repeat."""
    attached = list_results(registry, version)
    rows = [(r.name, f"{r.value:g}", r.source or "attached") for r in attached]
    named = {r.name for r in attached}
    rows += sorted(
        (k[len(EVAL_PREFIX) :], v, f"tag {k}")
        for k, v in version.tags.items()
        if k.startswith(EVAL_PREFIX) and k[len(EVAL_PREFIX) :] not in named
    )
    if not rows:
        return "## Evaluation\n\nNo evaluation results are attached yet."
    return "## Evaluation\n\n" + _table(("Metric", "Value", "Source"), rows)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(r) for r in rows)])
