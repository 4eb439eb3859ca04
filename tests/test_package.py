"""The package's shape: a light import, an honest __all__, imports that point down."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import lmops

SRC = Path(lmops.__file__).parent

# Lower layers must never import higher ones (ARCHITECTURE.md: imports point down).
LAYERS = {
    "core": 0,
    "store": 1,
    "artifacts": 1,
    "tracking": 2,
    "tracing": 2,
    "data": 3,  # datasets are made from traces too
    "registry": 3,  # versions come from runs' artifacts
    "prompts": 3,  # versions, aliases and rendering over the store
    "tuning": 4,  # builds and fine-tunes models, registers them
    "governance": 4,  # cards, lineage and policies read every stage
    "serving": 4,  # serves registered versions and traces each request
    "evaluation": 5,  # scores targets: serving clients, prompts as rubrics
    "client": 5,
    "fluent": 6,
    "server": 7,
    "cli": 8,
}

# The one place allowed to look up: the schema module gathers every stage's tables so that
# Alembic can compare them with the migrations.
GATHERS_TABLES = {Path("store/schema.py")}


def test_all_is_honest() -> None:
    for name in lmops.__all__:
        assert getattr(lmops, name) is not None, name
    assert "start_run" in lmops.__all__ and "log_metric" in lmops.__all__


def test_import_lmops_stays_light() -> None:
    code = (
        "import sys, lmops; heavy = [m for m in ('sqlalchemy', 'fastapi', 'pydantic', "
        "'httpx', 'torch', 'transformers', 'alembic') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lmops."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("lmops."))
    return found


def test_imports_point_down() -> None:
    problems = []
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).parts
        if len(parts) < 2 or parts[0] not in LAYERS or Path(*parts) in GATHERS_TABLES:
            continue
        here = parts[0]
        for target in _imports(path) - {here}:
            if target in LAYERS and LAYERS[target] >= LAYERS[here]:
                problems.append(f"{path.relative_to(SRC)} imports lmops.{target}")
    assert problems == []
