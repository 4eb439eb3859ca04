"""The price table (USD per million tokens, per model) and the cost of a span from it."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, select

from lmops.core.errors import NotFound
from lmops.core.ids import utcnow
from lmops.core.text import check_text
from lmops.store.engine import writing
from lmops.tracing.entities import ModelPrice
from lmops.tracing.tables import model_prices


class PriceStore:
    """Prices users edit; each cost computed from one names the price and its source."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def set_price(self, price: ModelPrice) -> ModelPrice:
        check_text(price.model, "model")
        check_text(price.source, "source")
        row = {**price.model_dump(), "updated_at": utcnow()}
        with writing(self.engine) as conn:
            conn.execute(model_prices.delete().where(model_prices.c.model == price.model))
            conn.execute(model_prices.insert(), row)
        return ModelPrice.model_validate(row)

    def list_prices(self) -> list[ModelPrice]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(model_prices).order_by(model_prices.c.model)).mappings()
            return [ModelPrice.model_validate(dict(r)) for r in rows]

    def get_price(self, model: str) -> ModelPrice:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(model_prices).where(model_prices.c.model == check_text(model, "model"))
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no price for model {model!r}")
        return ModelPrice.model_validate(dict(row))

    def delete_price(self, model: str) -> None:
        with writing(self.engine) as conn:
            done = conn.execute(
                model_prices.delete().where(model_prices.c.model == check_text(model, "model"))
            )
        if done.rowcount == 0:
            raise NotFound(f"no price for model {model!r}")

    def prices_for(self, models: set[str]) -> dict[str, ModelPrice]:
        """The price of each model: its own entry, else the entry of the name without a
        dated snapshot suffix (`gpt-4o-2024-08-06` is priced as `gpt-4o`)."""
        if not models:
            return {}
        wanted = {m: base_model(m) for m in models}
        names = sorted(set(wanted) | set(wanted.values()))
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(model_prices).where(model_prices.c.model.in_(names))
            ).mappings()
            table = {r["model"]: ModelPrice.model_validate(dict(r)) for r in rows}
        found = {}
        for model, base in wanted.items():
            price = table.get(model) or table.get(base)
            if price is not None:
                found[model] = price
        return found


_SNAPSHOT = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|-\d{4})$")


def base_model(model: str) -> str:
    """A model name without its snapshot date: `claude-x-20250219` -> `claude-x`."""
    return _SNAPSHOT.sub("", model)


def price_row(row: dict[str, Any], prices: dict[str, ModelPrice]) -> None:
    """Fill a span row's cost from the price table, unless the caller reported one."""
    if row["cost"] is not None:
        row["cost_source"] = row["cost_source"] or "reported"
        return
    price = prices.get(row["model"] or "")
    if price is None or (row["input_tokens"] is None and row["output_tokens"] is None):
        return
    cached = row["cached_tokens"] or 0
    reasoning = row["reasoning_tokens"] or 0
    cached_rate = price.cached_input_per_million
    reasoning_rate = price.reasoning_per_million
    # Cached input tokens are part of the input count; priced apart only when a rate exists.
    uncached = (row["input_tokens"] or 0) - (cached if cached_rate is not None else 0)
    # Reasoning tokens are part of the output count; likewise.
    visible = (row["output_tokens"] or 0) - (reasoning if reasoning_rate is not None else 0)
    row["cost"] = (
        max(uncached, 0) * price.input_per_million
        + max(visible, 0) * price.output_per_million
        + cached * (cached_rate or 0.0)
        + reasoning * (reasoning_rate or 0.0)
    ) / 1_000_000
    row["cost_source"] = f"price table: {price.model} ({price.source})"
