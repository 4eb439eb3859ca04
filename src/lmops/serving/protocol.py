"""The OpenAI wire format: request bodies checked at the edge, and the error JSON every
serving route answers with (`{"error": {"message", "type", "param", "code"}}`)."""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

M = TypeVar("M", bound=BaseModel)
MAX_N = 16
MAX_STOP = 4


class OpenAIError(Exception):
    """An error answered in OpenAI's shape; `retry_after` adds a Retry-After header."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def model_not_found(name: str) -> OpenAIError:
    return OpenAIError(
        404,
        f"The model '{name}' does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def overloaded(message: str, retry_after: float) -> OpenAIError:
    return OpenAIError(503, message, type="server_overloaded", retry_after=retry_after)


class _Request(BaseModel):
    # Unknown fields are kept: an upstream provider gets them as sent (tools, logprobs,
    # response_format...); a model served here ignores them, as OpenAI-compatible servers do.
    model_config = ConfigDict(extra="allow", protected_namespaces=())
    kind: ClassVar[str]

    model: str = Field(min_length=1, max_length=500)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    n: int = Field(default=1, ge=1, le=MAX_N)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=-(2**63), lt=2**63)  # what torch can seed with
    user: str | None = Field(default=None, max_length=500)
    stream: bool = False
    stream_options: dict[str, Any] | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else (value or [])
        if len(stops) > MAX_STOP:
            raise ValueError(f"at most {MAX_STOP} stop sequences")
        if any(not s for s in stops):
            raise ValueError("a stop sequence must not be empty")
        return value

    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class ContentPart(BaseModel):
    """One part of a message: text, or an image or audio part only an upstream can take."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(min_length=1, max_length=100)
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # tool_calls, tool_call_id... go upstream as sent
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""

    def only_text(self) -> bool:
        return not isinstance(self.content, list) or all(
            part.type == "text" for part in self.content
        )


class ChatRequest(_Request):
    kind = "chat"
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)

    def output_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Request):
    kind = "completion"
    prompt: str | list[str]
    max_tokens: int | None = Field(default=16, ge=1)  # OpenAI's default for completions
    echo: bool = False

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError("this server takes one prompt per request")
        return value

    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]

    def output_limit(self) -> int | None:
        return self.max_tokens


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())
    kind: ClassVar[str] = "embedding"

    model: str = Field(min_length=1, max_length=500)
    input: str | list[str] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = Field(default=None, max_length=500)

    @field_validator("input")
    @classmethod
    def _inputs(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) > 2048:
            raise ValueError("at most 2048 inputs per request")
        return value

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


def parse(raw: bytes, model: type[M]) -> M:
    """The body as `model`, or a 400 naming the field that is wrong."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OpenAIError(400, f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise OpenAIError(400, "The request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = _param(model, first["loc"])
        message = first["msg"]
        if first["type"] == "missing":
            message = "you must provide this field"
        raise OpenAIError(400, f"Invalid value for '{param}': {message}", param=param) from exc


def _param(model: type[BaseModel], loc: tuple[int | str, ...]) -> str | None:
    """The dotted path of the field an error is about, without the union member pydantic
    puts in it: `stop.str` is the field `stop`."""
    parts: list[str] = []
    fields: dict[str, Any] | None = model.model_fields
    for part in loc:
        if isinstance(part, int):
            parts.append(str(part))
            continue
        if fields is None or part not in fields:
            break
        parts.append(part)
        fields = _fields_within(fields[part].annotation)
    return ".".join(parts) or None


def _fields_within(annotation: Any) -> dict[str, Any] | None:
    """The fields of the model an annotation holds (`list[ChatMessage]`), if it holds one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return dict(annotation.model_fields)
    for arg in get_args(annotation):
        found = _fields_within(arg)
        if found is not None:
            return found
    return None
