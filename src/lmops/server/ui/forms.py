"""Forms the UI posts: urlencoded fields read without python-multipart, other sites refused.

No UI form uploads files, so an urlencoded body is all a page posts. A page on another
site must not be able to write through a visitor's browser (there is no session cookie
yet, but the server may trust its network): a post whose browser says it came from
elsewhere is refused before it is read.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlsplit

from fastapi import Depends, Request

from lmops.core.errors import Forbidden, InvalidInput, PayloadTooLarge, UnsupportedMediaType

URLENCODED = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 3_000_000  # a card at its limit, every character percent-encoded UTF-8
MAX_FIELDS = 20


def same_origin(request: Request) -> None:
    """Refuse a post that a page on another origin made the browser send."""
    fetched_from = request.headers.get("sec-fetch-site")
    if fetched_from is not None:
        allowed = fetched_from in ("same-origin", "none")
    else:  # an older browser: compare Origin with the host it was sent to
        origin = request.headers.get("origin")
        allowed = origin is None or urlsplit(origin).netloc == request.headers.get("host")
    if not allowed:
        raise Forbidden("this form was posted from another site; use the lmops pages")


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of an urlencoded body (the last value of each name; an empty body has
    none); CRLF becomes LF."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLarge(f"the form is larger than {MAX_FORM_BYTES:,} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and kind != URLENCODED:
        raise UnsupportedMediaType(f"send the form as {URLENCODED}, not {kind or 'nothing'}")
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS
        )
    except ValueError as exc:
        raise InvalidInput(f"the form cannot be read: {exc}") from None
    # browsers send a textarea's line breaks as CRLF; markdown and diffs want LF
    return {name: value.replace("\r\n", "\n") for name, value in pairs}


FormDep = Annotated[dict[str, str], Depends(form_fields)]
