"""The model card on a version's page: its markdown rendered safely, generate and edit forms.

Card markdown is user text. It is rendered with raw HTML off (a `<script>` in a card shows
as text) and markdown-it's link check on (no `javascript:` links); tables are on, since
generated cards are mostly tables. Every save is a new revision; the page shows the
latest or `?card_revision=N` and lists the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from markdown_it import MarkdownIt
from markupsafe import Markup

from lmops.core.errors import InvalidInput
from lmops.governance.cards import edit_card, generate_card
from lmops.registry.entities import CardRevision, ModelCard, ModelVersion
from lmops.registry.store import MAX_CARD_CHARS, RegistryStore
from lmops.server.auth import authorize
from lmops.server.deps import (
    CardRevisionParam,
    ModelVersionDep,
    RegistryDep,
    StoresDep,
    resolve_model_card,
)
from lmops.server.ui.forms import FormDep, same_origin
from lmops.server.ui.rendering import HtmlRoute, render

router = APIRouter(dependencies=[Depends(authorize)], route_class=HtmlRoute, tags=["ui"])
# a form that writes: refused when another site's page made the browser post it
WRITES = [Depends(same_origin)]


@dataclass(frozen=True)
class CardView:
    """What the card section of a version's page shows: one revision, and all of them."""

    card: ModelCard | None
    revisions: list[CardRevision]
    html: Markup

    @property
    def is_latest(self) -> bool:
        return self.card is None or self.card.revision == self.revisions[0].revision


@cache
def markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def render_markdown(text: str) -> Markup:
    """HTML for a card's markdown; raw HTML in it comes out escaped."""
    return Markup(markdown().render(text))


def card_view(store: RegistryStore, version: ModelVersion, revision: int | None) -> CardView:
    """Revision `revision` of the card of `version` (the latest by default), rendered."""
    revisions = store.list_cards(version.id)
    if not revisions and revision is None:
        return CardView(None, [], Markup())
    card = resolve_model_card(store, version, revision)
    return CardView(card, revisions, render_markdown(card.markdown))


@router.post("/models/{name}/{version}/card/generate", include_in_schema=False, dependencies=WRITES)
def generate(version: ModelVersionDep, stores: StoresDep) -> Response:
    """Write the card from the version's lineage as its next revision, then show it."""
    generate_card(stores, version.uri)
    return _back_to(version)


@router.get("/models/{name}/{version}/card/edit", include_in_schema=False)
def edit_page(
    request: Request,
    version: ModelVersionDep,
    store: RegistryDep,
    revision: CardRevisionParam = None,
) -> Response:
    """A form for the card's next revision, starting from the latest (or `revision`)."""
    if revision is None:
        card = store.get_card(version.id)
    else:
        card = resolve_model_card(store, version, revision)
    return _edit_form(request, version, card.markdown if card else "", card)


@router.post("/models/{name}/{version}/card", include_in_schema=False, dependencies=WRITES)
def save(request: Request, version: ModelVersionDep, store: RegistryDep, form: FormDep) -> Response:
    """Save the edited markdown as a new revision; a refused text comes back to be fixed."""
    text = form.get("markdown", "")
    try:
        edit_card(store, version.id, text)
    except InvalidInput as exc:
        return _edit_form(request, version, text, None, error=exc.message)
    return _back_to(version)


def _edit_form(
    request: Request,
    version: ModelVersion,
    text: str,
    based_on: ModelCard | None,
    error: str | None = None,
) -> Response:
    context = {
        "section": "/models",
        "this_version": version,
        "text": text,
        "based_on": based_on,
        "error": error,
        "max_chars": MAX_CARD_CHARS,
    }
    return render(request, "model_card_edit.html", context, 400 if error else 200)


def _back_to(version: ModelVersion) -> Response:
    url = f"/models/{quote(version.model_name)}/{version.version}#card"
    return RedirectResponse(url, status_code=303)
