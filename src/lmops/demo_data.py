"""The dataset part of `make demo`: a raw instruction set walked through profiling, near-dup
removal, PII scrubbing and a train/validation/test split, with its recipe and lineage.

The raw file is generated: support questions and answers built from templates, with
planted exact copies, near copies (a word changed, a tail added), emails, phone numbers,
a card number, an empty row and a control character, so every profile figure and every
step has something real to find.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import lmops.data
from lmops.data.entities import DatasetVersion

DATASET = "demo-support"
TOPICS = [
    ("reset my password", "Open Settings, choose Security, then Reset password."),
    ("export my data", "Use Account, then Export, and pick JSON or CSV."),
    ("change the billing plan", "Billing lets you switch plans; the change applies next cycle."),
    ("invite a teammate", "Go to Team, click Invite and enter their email address."),
    ("delete a project", "Open the project settings and choose Delete at the bottom."),
    ("connect the API", "Create a key under Developer, then pass it as a bearer token."),
    ("enable two factor login", "Security has a two-factor switch; scan the QR code to finish."),
    ("download an invoice", "Invoices are under Billing, History; each has a PDF link."),
]
OPENERS = ["How do I", "How can I", "What is the way to", "Please explain how to", "Can I"]
CONTEXT = [
    "on the web app",
    "from my phone",
    "for my whole team",
    "without losing history",
    "as an admin",
    "today",
    "on the free plan",
    "after the last update",
]
DETAILS = [
    "I tried twice and it did not work.",
    "The button seems to be missing.",
    "It asks me to contact an administrator.",
    "Nothing happens when I click.",
    "The docs say something else.",
    "It worked last week.",
    "I get an error code 403.",
    "My manager asked me to do it.",
    "",
]
PII = [
    "My email is dana.{i}@example.com.",
    "Call me back at +1 415 555 01{i:02d}.",
    "I paid with card 4111 1111 1111 1111.",
    "Our server is 10.0.0.{i}.",
]


def raw_rows(n: int = 400, seed: int = 7) -> list[dict[str, object]]:
    """Instruction rows with duplicates, near duplicates and PII planted in known places."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for i in range(n):
        topic, answer = TOPICS[i % len(TOPICS)]
        question = f"{rng.choice(OPENERS)} {topic} {rng.choice(CONTEXT)}? {rng.choice(DETAILS)}"
        if i % 25 == 3:
            question += " " + PII[i % len(PII)].format(i=i % 90)
        rows.append({"id": f"t{i:04d}", "instruction": question, "response": answer})
    for i in range(0, n, 20):  # exact copies
        rows.append({**rows[i], "id": f"dup{i:04d}"})
    for i in range(5, n, 40):  # near copies: a few words added
        text = f"{rows[i]['instruction']} Thanks in advance!"
        rows.append({**rows[i], "id": f"near{i:04d}", "instruction": text})
    rows.append({"id": "empty", "instruction": "", "response": ""})
    rows.append({"id": "ctrl", "instruction": "How do I\x07 reset my password?", "response": "x"})
    return rows


def populate_dataset() -> DatasetVersion | None:
    """Import, profile, deduplicate, scrub, split and profile again; None if already there."""
    if any(d.name == DATASET for d in lmops.data.list_datasets()):
        return None
    with tempfile.TemporaryDirectory(prefix="lmops-demo-") as tmp:
        raw = Path(tmp) / "support_raw.jsonl"
        raw.write_text("".join(json.dumps(r) + "\n" for r in raw_rows()), encoding="utf-8")
        first = lmops.data.create(DATASET, raw, description="support questions, raw export")
    lmops.data.profile(first.uri)
    clean = lmops.data.apply(first.uri, "filter", where="length(trim(instruction)) > 0")
    unique = lmops.data.apply(clean.uri, "dedup_near", column="instruction", threshold=0.7)
    scrubbed = lmops.data.apply(unique.uri, "redact_pii", columns=["instruction"])
    split = lmops.data.apply(scrubbed.uri, "split", key="id", check_column="instruction")
    chat = lmops.data.apply(
        split.uri,
        "convert",
        to="chat",
        prompt="instruction",
        completion="response",
        system="You are a concise support assistant.",
        keep=["id", "split"],
    )
    lmops.data.profile(split.uri)
    lmops.data.profile(chat.uri)
    return chat


def populate_trace_dataset() -> DatasetVersion | None:
    """The demo QA app's rated traces as a dataset (feedback and corrections included)."""
    name = "demo-qa-feedback"
    if any(d.name == name for d in lmops.data.list_datasets()):
        return None
    return lmops.data.from_traces(name, {"tags": {"app": "demo-qa"}, "has_feedback": True})
