"""UI routes (placeholder until the UI lands)."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Mount the UI routes and static files on `app`."""
