"""Model cards from lineage on SQLite and PostgreSQL: run params and metrics, data, results."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import Engine

from lmops.artifacts import ArtifactStore
from lmops.core.errors import InvalidInput
from lmops.data.importing import import_source
from lmops.data.store import DataStore
from lmops.governance.cards import Stores, edit_card, generate_card
from lmops.registry import registering
from lmops.registry.results import attach_result
from lmops.registry.store import RegistryStore
from lmops.store.audit import search
from lmops.store.lineage import add_edge
from lmops.tracking.store import TrackingStore
from tests.registry.conftest import fake_model_dir


@pytest.fixture
def stores(engine: Engine, artifacts: ArtifactStore) -> Stores:
    return Stores(
        registry=RegistryStore(engine, artifacts),
        tracking=TrackingStore(engine, artifacts),
        data=DataStore(engine, artifacts),
    )


def test_a_card_tells_where_the_model_came_from(stores: Stores, tmp_path: Path) -> None:
    train = import_source(stores.data, "qa-train", pa.table({"q": ["a", "b", "c"]}))
    experiment = stores.tracking.create_experiment("sft")
    run = stores.tracking.create_run(experiment.id, name="sft-lr-3e-4")
    stores.tracking.log_params(run.id, {"lr": "0.0003", "epochs": "3"})
    add_edge(stores.registry.engine, "dataset_version", train.id, "run", run.id, "trained_on")
    stores.tracking.log_artifact(run.id, fake_model_dir(tmp_path / "out"), "model")
    version = registering.register_run_artifact(
        stores.registry, "sft", f"runs:/{run.id}/model", description="A support bot.", license="mit"
    )
    stores.registry.update_version(version.uri, tags={"eval.rougeL": "0.41"})
    stores.registry.set_alias("sft", "staging", 1)

    card = generate_card(stores, "models:/sft@staging")
    text = card.markdown
    assert (card.revision, card.generated) == (1, True)
    assert text.startswith("# sft v1\n\nA support bot.")
    assert "| Aliases | `@staging` |" in text and "| Parameters | 64 |" in text
    assert f"Run **sft-lr-3e-4** (`runs:/{run.id}`) in experiment **sft**." in text
    assert "| lr | 0.0003 |" in text and "| epochs | 3 |" in text
    assert "| `datasets:/qa-train/1` | 3 | import | trained_on |" in text
    assert "| rougeL | 0.41 | tag eval.rougeL |" in text and "## Licence\n\nmit" in text
    assert "_To be written: who should use this model" in text

    edited = stores.registry.save_card(version.id, text + "\nReviewed.\n", generated=False)
    assert edited.revision == 2 and not edited.generated
    assert stores.registry.get_card(version.id) == edited
    assert stores.registry.get_card(version.id, 1) == card
    assert [e.action for e in search(stores.registry.engine)][-2:] == [
        "model_card.save",
        "model_card.save",
    ]
    with pytest.raises(InvalidInput):
        stores.registry.save_card(version.id, "x" * 300_000, generated=False)


def test_an_imported_model_card_says_so(stores: Stores, tmp_path: Path) -> None:
    registering.register_directory(stores.registry, "m", fake_model_dir(tmp_path / "m"))
    text = generate_card(stores, "models:/m/1").markdown
    assert "Not produced by a tracked run" in text
    assert "No dataset version is linked" in text and "No evaluation results" in text


def test_a_card_lists_attached_results_before_eval_tags(stores: Stores, tmp_path: Path) -> None:
    """Attached results are what policies read; a tag naming the same metric is not repeated."""
    version = registering.register_directory(stores.registry, "m", fake_model_dir(tmp_path / "m"))
    stores.registry.update_version(version.uri, tags={"eval.rougeL": "0.2", "eval.bleu": "11"})
    attach_result(stores.registry, version, "rougeL", 0.34, "runs:/abc")
    attach_result(stores.registry, version, "exact_match", 0.5)
    text = generate_card(stores, "models:/m/1").markdown
    evaluation = text.split("## Evaluation\n\n")[1].split("\n\n")[0]
    assert evaluation.splitlines()[2:] == [
        "| exact_match | 0.5 | attached |",
        "| rougeL | 0.34 | runs:/abc |",
        "| bleu | 11 | tag eval.bleu |",
    ]


@pytest.mark.parametrize("blank", ["", " ", "\n\t\n"])
def test_an_edited_card_is_never_blank(stores: Stores, tmp_path: Path, blank: str) -> None:
    version = registering.register_directory(stores.registry, "m", fake_model_dir(tmp_path / "m"))
    with pytest.raises(InvalidInput, match="the card is empty"):
        edit_card(stores.registry, version.id, blank)
    assert stores.registry.get_card(version.id) is None
    saved = edit_card(stores.registry, version.id, "# m\n\nWritten by hand.\n")
    assert (saved.revision, saved.generated) == (1, False)
