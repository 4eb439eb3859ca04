"""The platform server: REST API, UI, health and metrics over the lifecycle stages."""

from lmops.server.app import create_app

__all__ = ["create_app"]
