"""Serving: an OpenAI-compatible API over registered models.

`open_local` loads a version (and adapters over its base) behind a continuous batcher;
`OpenAIService` routes OpenAI requests to backends by model id and records each as a trace.
"""

from lmops.serving.backends import Backend, ServedModel
from lmops.serving.protocol import OpenAIError
from lmops.serving.routing import Caller
from lmops.serving.service import OpenAIService

__all__ = ["Backend", "Caller", "OpenAIError", "OpenAIService", "ServedModel"]
