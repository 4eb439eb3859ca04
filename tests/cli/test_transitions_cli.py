"""`lmops models policy|result|transition ...` through click's runner, against a real store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmops.cli.main import cli
from lmops.store.audit import acting_as
from tests.registry.conftest import fake_model_dir


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LMOPS_URI", "")
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_protect_request_refuse_fix_and_approve(home: Path) -> None:
    assert run("models", "register", "chat", str(fake_model_dir(home / "v1")))[0] == 0
    v2 = str(fake_model_dir(home / "v2"))
    assert run("models", "register", "chat", v2, "--tag", "reviewed=carol")[0] == 0
    assert run("models", "alias", "chat", "production", "1")[0] == 0

    code, out = run(
        "models", "policy", "set", "chat", "production",
        "--require-tag", "reviewed", "--min-result", "rougeL=0.3", "--require-card",
    )  # fmt: skip
    assert code == 0, out
    assert out.splitlines()[:4] == [
        "models:/chat@production is protected; before it moves:",
        "  - tag reviewed",
        "  - result rougeL >= 0.3",
        "  - a model card",
    ]
    code, out = run("models", "alias", "chat", "production", "2")
    assert code == 1 and "is protected by a policy: request a transition instead" in out
    assert run("models", "policy", "set", "chat", "production", "--min-result", "rougeL")[0] == 1

    code, out = run("models", "transition", "request", "models:/chat/2", "production", "-m", "go")
    assert code == 0, out
    transition_id = re.match(r"transition ([0-9a-f]{32}): ", out)[1]  # type: ignore[index]
    assert "models:/chat/2 -> @production (from v1): pending" in out
    assert "[pass] tag reviewed: reviewed=carol" in out
    assert "[FAIL] result rougeL >= 0.3: no result attached" in out

    code, out = run("models", "transition", "approve", transition_id)
    assert code == 1 and "cannot approve it (four eyes)" in out
    with acting_as("bob"):
        code, out = run("models", "transition", "approve", transition_id, "-m", "ok")
    assert code == 1 and "2 of 3 policy checks fail" in out and "model card" in out

    code, out = run("models", "result", "attach", "models:/chat/2", "rougeL", "0.42")
    assert (code, out) == (0, "models:/chat/2: rougeL = 0.42\n")
    assert run("models", "result", "attach", "models:/chat/2", "rougeL", "nan")[0] == 1
    assert run("models", "card", "models:/chat/2", "--generate")[0] == 0
    code, out = run("models", "transition", "check", "models:/chat/2", "production")
    assert out.count("[pass]") == 3 and "[FAIL]" not in out
    with acting_as("bob"):
        code, out = run("models", "transition", "approve", transition_id, "-m", "ok")
    assert code == 0, out
    assert ": approved" in out.splitlines()[0] and "approved by bob" in out
    assert "checks when decided:" in out and "[pass] result rougeL >= 0.3: rougeL is 0.42" in out
    code, out = run("models", "show", "models:/chat@production")
    assert out.startswith("models:/chat/2  (@production)")

    code, out = run("models", "transition", "list", "chat", "--json")
    [listed] = json.loads(out)
    assert (listed["id"], listed["status"], listed["decided_by"]) == (
        transition_id,
        "approved",
        "bob",
    )
    code, out = run("models", "transition", "list", "--status", "pending")
    assert code == 0 and out.startswith("ID  VERSION  ALIAS  STATUS  CHECKS  REQUESTED BY")
    assert len(out.splitlines()) == 1  # nothing pending
    code, out = run("models", "result", "list", "models:/chat/2", "--json")
    assert [(r["name"], r["value"]) for r in json.loads(out)] == [("rougeL", 0.42)]


def test_reject_needs_a_reason_and_cancel_is_the_requesters(home: Path) -> None:
    run("models", "register", "chat", str(fake_model_dir(home / "v1")))
    run("models", "register", "chat", str(fake_model_dir(home / "v2")))
    code, out = run("models", "transition", "request", "models:/chat/2", "production")
    assert code == 1 and "is not protected" in out and "lmops models alias chat production 2" in out
    run("models", "policy", "set", "chat", "production")
    code, out = run("models", "policy", "show", "chat")
    assert "  - an approver's decision, nothing more" in out
    _, out = run("models", "transition", "request", "models:/chat/2", "production")
    transition_id = out.split()[1].rstrip(":")

    assert run("models", "transition", "reject", transition_id)[0] == 2  # -m is required
    with acting_as("eve"):
        code, out = run("models", "transition", "cancel", transition_id)
    assert code == 1 and "can cancel it" in out
    code, out = run("models", "transition", "cancel", transition_id, "-m", "not yet")
    assert code == 0 and ": cancelled" in out.splitlines()[0]
    code, out = run("models", "transition", "show", transition_id, "--json")
    assert json.loads(out)["decision_comment"] == "not yet"

    code, out = run("models", "policy", "remove", "chat", "production")
    assert (code, out) == (0, "models:/chat@production is no longer protected\n")
    assert run("models", "policy", "show", "chat", "production")[0] == 1
    assert run("models", "alias", "chat", "production", "2")[0] == 0
