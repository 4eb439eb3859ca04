"""Find, count and redact personal data and secrets in Arrow string arrays.

Two steps keep a million rows fast: RE2 patterns (`pyarrow.compute.match_substring_regex`),
each a loose superset of one detector, pick the candidate rows and the kinds each might
hold, and only those rows go through those kinds' precise Python detectors and checks.

What each kind matches:

- email: `local@domain.tld`, ASCII, the top-level domain alphabetic.
- phone: `+` and a country code with 8-15 digits in all (`+1 (415) 555-0132`,
  `+44 20 7946 0958`, `+4915112345678`); North American `(415) 555-0132`,
  `415-555-0132`, `415.555.0132`, `1-800-555-0199`; trunk-prefixed national numbers that
  start with 0 and have separators, 9-12 digits (`020 7946 0958`, `01 23 45 67 89`,
  `(030) 1234 5678`). Never an undelimited run of digits without `+` (order ids), nor a
  number glued to more digits, letters, `#`, `$`, `€` or `£` (prices, ids), so years
  and dates (`2024`, `2024-05-12`, `01.05.2024`: at most 8 digits) stay out.
- credit_card: 13-19 digits starting 2-6 (every major network), in groups of 4
  (or Amex's 4-6-5) split by one kind of separator (space or dash) or none, passing Luhn
  and not one digit repeated.
- iban: country code, two check digits and the BBAN, spaces allowed, of the length
  the ISO 13616 registry gives that country and passing the mod-97 check.
- ip_address: IPv4 with octets 0-255 and no leading zeros; IPv6 as `ipaddress` reads
  it (compressed and IPv4-mapped forms too), holding at least one digit.
- secret: AWS access key ids (AKIA/ASIA), GitHub tokens (ghp_ gho_ ghu_ ghs_ ghr_
  github_pat_), OpenAI-style `sk-` keys, Slack `xox?-` tokens, Google `AIza` keys,
  Stripe `sk_live_`/`rk_live_` (and `_test_`) keys, PEM private keys (the whole block
  when its END line is there), JWTs, and the value of an assignment to a password,
  secret, API key or token name (`password=...`, `API_KEY = "..."`, `"token": "..."`;
  after `:` only a quoted value, as prose is full of `Secret: words`). Values that are
  placeholders (`None`, `***`, `${VAR}`, `<token>`), the key's own name or code
  (`os.environ[...]`, `settings.api_key`) do not count; only the value is redacted.

Overlaps: a stretch of text belongs to one kind, claimed in the order secret, email,
iban, credit_card, ip_address, phone: most specific first, so a token is not an email,
an IBAN's digits are not a card, and a card or an address is never also a phone.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lmops.core.errors import InvalidInput
from lmops.data.textstats import Texts, text_chunks

KINDS: tuple[str, ...] = ("email", "phone", "credit_card", "iban", "ip_address", "secret")
PRECEDENCE: tuple[str, ...] = ("secret", "email", "iban", "credit_card", "ip_address", "phone")


class Span(NamedTuple):
    """Characters `start:end` of a text hold an item of `kind`."""

    start: int
    end: int
    kind: str


def placeholder(kind: str) -> str:
    """What `redact` writes instead of an item of this kind, e.g. "[EMAIL]"."""
    return f"[{kind.upper()}]"


# --- email ---------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)


def _emails(text: str) -> Iterator[tuple[int, int]]:
    for m in _EMAIL.finditer(text):
        yield m.span()


# --- phone ---------------------------------------------------------------------------------

_PHONE = re.compile(
    r"(?<![\w+#@$€£/.-])(?<!\d[ .-])(?:"
    r"(?P<intl>\+\d{1,3}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5})){1,6})"
    r"|(?P<nanp>(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}(?P<sep>[ .-]))\d{3}(?(sep)(?P=sep)|[ .-])\d{4})"
    r"|(?P<national>0\d{1,4}(?:[ .-]\d{2,8}){1,4}|\(0\d{1,4}\) ?\d{2,8}(?:[ .-]\d{2,8}){0,3})"
    r")(?![\w@]|[ .-]?\d)"
)


def _phones(text: str) -> Iterator[tuple[int, int]]:
    for m in _PHONE.finditer(text):
        digits = sum(c.isdigit() for c in m.group())
        if m.group("intl"):
            ok = 8 <= digits <= 15
        elif m.group("national"):
            ok = 9 <= digits <= 12
        else:
            ok = True  # the NANP pattern fixes the digits itself
        if ok:
            yield m.span()


# --- credit_card ---------------------------------------------------------------------------

_CARD = re.compile(
    r"(?<![\w.,+-])(?<!\d[ -])[2-6]\d{3}"
    r"(?:(?P<s>[ -]?)\d{4}(?:(?P=s)\d{1,4}){1,3}|(?P<a>[ -]?)\d{6}(?P=a)\d{4,5})"
    r"(?![\w]|[ -]\d|[.,]\d)"
)


def luhn_ok(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _cards(text: str) -> Iterator[tuple[int, int]]:
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_ok(digits):
            yield m.span()


# --- iban ----------------------------------------------------------------------------------

# ISO 13616 registry: IBAN length by country.
_IBAN_LENGTHS = {
    country: int(length)
    for country, length in re.findall(
        r"([A-Z]{2})(\d{2})",
        "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 "
        "DE22 DJ27 DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 "
        "GT28 HN28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 "
        "LU20 LV21 LY25 MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 "
        "PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 "
        "SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20 YE30",
    )
}
_IBAN = re.compile(r"(?<![\w-])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")


def iban_ok(iban: str) -> bool:
    """Whether a compact IBAN has its country's length and passes the mod-97 check."""
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _iban_end(text: str, start: int, length: int) -> int | None:
    """Where an IBAN of `length` characters starting at `start` ends, spaces skipped."""
    seen, i = 0, start
    while i < len(text) and seen < length:
        if text[i].isalnum():
            seen += 1
        elif text[i] != " " or text[i - 1] == " ":
            return None
        i += 1
    at_boundary = i == len(text) or not text[i].isalnum()
    return i if seen == length and at_boundary else None


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    # The pattern may run on into uppercase words after the IBAN, so it is cut to the length
    # its country code calls for, and the search resumes right after whatever was taken.
    pos = 0
    while m := _IBAN.search(text, pos):
        length = _IBAN_LENGTHS.get(m.group()[:2], 0)
        end = _iban_end(text, m.start(), length) if length else None
        if end is not None and iban_ok(text[m.start() : end].replace(" ", "")):
            yield m.start(), end
            pos = end
        else:
            pos = m.start() + 1


# --- ip_address ----------------------------------------------------------------------------

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w-]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?"
    r"(?![\w:]|\.\d)"
)


def _ipv4_ok(candidate: str) -> bool:
    return all(o == "0" or (o[0] != "0" and int(o) <= 255) for o in candidate.split("."))


def _ipv6_ok(candidate: str) -> bool:
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return any(c.isdigit() for c in candidate)


def _ip_addresses(text: str) -> Iterator[tuple[int, int]]:
    # IPv6 first: an IPv4-mapped address ("::ffff:192.0.2.128") is one item, not two.
    for m in _IPV6.finditer(text):
        start, end = m.span()
        if text[end - 1] == ":" and text[end - 2] != ":":
            end -= 1  # "fe80::1:" at the end of a clause
        if _ipv6_ok(text[start:end]):
            yield start, end
    for m in _IPV4.finditer(text):
        if _ipv4_ok(m.group()):
            yield m.span()


# --- secret --------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"(?<![\w-])(?:"
    r"(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36,255}"
    r"|github_pat_[A-Za-z0-9_]{22,255}"
    r"|sk-(?P<openai>[A-Za-z0-9_-]{20,})"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|[rs]k_(?:live|test)_[0-9A-Za-z]{16,}"
    r"|eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
    r")(?![\w-])"
)
_PEM = re.compile(
    r"-----BEGIN (?P<label>(?:[A-Z0-9]+ )*)PRIVATE KEY-----"
    r"(?:[\s\S]*?-----END (?P=label)PRIVATE KEY-----)?"
)
_KEY_NAME = (
    r"(?i:(?:[a-z0-9]+[_.-])*(?:password|passwd|passphrase|pwd|secret|secret[_-]?key"
    r"|api[_-]?key|apikey|access[_-]?key|private[_-]?key)"
    r"|(?:(?:access|auth|api|bearer|bot|refresh|session|id|oauth|github|gh|gitlab|hf|slack"
    r"|npm|pypi|discord|telegram)[_-]?)?token)"
)
_ASSIGNMENT = re.compile(
    rf"(?<![\w.-])(?P<key>{_KEY_NAME})[\"']?[ \t]*(?:"
    r"=[ \t]*(?:\"(?P<dq>[^\"\n]{1,256})\"|'(?P<sq>[^'\n]{1,256})'"
    r"|(?P<bare>[^\s\"'`,;&<>()\[\]{}=][^\s\"'`,;&<>()\[\]{}]{2,255}))"
    r"|:[ \t]*(?:\"(?P<jdq>[^\"\n]{1,256})\"|'(?P<jsq>[^'\n]{1,256})')"
    r")"
)
_PLACEHOLDER = re.compile(
    r"(?i)none|null|nil|true|false|undefined|empty|changeme|redacted|[*x•.]+"
    r"|\$.*|%\(.*|\{.*|<.*>|\[[A-Z_]+\]"
)
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def _openai_key_ok(body: str) -> bool:
    return any(c.isdigit() for c in body) and any(c.isalpha() for c in body)


def _assigned_value(m: re.Match[str], text: str) -> tuple[int, int] | None:
    group = next(g for g in ("dq", "sq", "bare", "jdq", "jsq") if m.group(g) is not None)
    value = m.group(group)
    if _PLACEHOLDER.fullmatch(value) or value.lower() == m.group("key").lower():
        return None
    if group == "bare":
        follows = text[m.end() : m.end() + 1]
        if follows in ("(", "[") or _DOTTED_NAME.fullmatch(value):
            return None  # code that fetches the secret, not the secret
    return m.span(group)


def _secrets(text: str) -> Iterator[tuple[int, int]]:
    for m in _TOKEN.finditer(text):
        if m.group("openai") is None or _openai_key_ok(m.group("openai")):
            yield m.span()
    for m in _PEM.finditer(text):
        yield m.span()
    for m in _ASSIGNMENT.finditer(text):
        span = _assigned_value(m, text)
        if span is not None:
            yield span


# --- candidate rows and the Arrow side -----------------------------------------------------

_DETECTORS: dict[str, Callable[[str], Iterator[tuple[int, int]]]] = {
    "email": _emails,
    "phone": _phones,
    "credit_card": _cards,
    "iban": _ibans,
    "ip_address": _ip_addresses,
    "secret": _secrets,
}
# RE2 patterns, each matching at least wherever its detector could; loose on purpose.
_PREFILTERS: dict[str, str] = {
    "email": r"[\w.%+-]@[A-Za-z0-9-]+\.[A-Za-z0-9]",
    "phone": r"\+\d|\(\d{3}\)|\(0\d|\d{3}[ .-]\d{3}|(?:^|[^\w.+-])0\d{1,4}[ .-]\d{2}",
    "credit_card": r"[2-6]\d{3}[ -]?\d{4}",
    "iban": r"[A-Z]{2}\d{2} ?[A-Z0-9]",
    "ip_address": r"\d\.\d{1,3}\.\d{1,3}\.\d|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:",
    "secret": (
        r"A[KS]IA|gh[pousr]_|github_pat_|sk-|xox[abposr]-|AIza|[rs]k_(?:live|test)_"
        r"|PRIVATE KEY|eyJ|(?i:passw(?:or)?d|passphrase|pwd|secret|(?:api|access|private|secret)"
        r"[_-]?key|apikey|token)[\"']?[ \t]*(?:=[ \t]*[^\s=]|:[ \t]*[\"'])"
    ),
}


def find_spans(text: str, kinds: Collection[str] = KINDS) -> list[Span]:
    """Items of personal data or secrets in one text, without overlaps, in text order.

    Only `kinds` are looked for; leave it whole to settle overlaps as documented above.
    """
    taken: list[Span] = []
    for kind in PRECEDENCE:
        if kind not in kinds:
            continue
        for start, end in _DETECTORS[kind](text):
            if all(end <= t.start or start >= t.end for t in taken):
                taken.append(Span(start, end, kind))
    return sorted(taken)


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    chosen = (kinds,) if isinstance(kinds, str) else tuple(dict.fromkeys(kinds))
    unknown = [k for k in chosen if k not in KINDS]
    if unknown:
        named = ", ".join(map(repr, unknown))
        raise InvalidInput(
            f"unknown PII kind(s) {named}; known kinds: {', '.join(KINDS)}", field="kinds"
        )
    if not chosen:
        raise InvalidInput(f"name at least one kind of: {', '.join(KINDS)}", field="kinds")
    return chosen


def _candidates(chunk: pa.Array, kinds: tuple[str, ...]) -> Iterator[tuple[int, str, set[str]]]:
    """Rows that might hold any of `kinds`: index, text, and every kind they might hold.

    The second set matters: a kind that was not asked for can still claim a span first.
    """
    pattern = "|".join(f"(?:{_PREFILTERS[k]})" for k in kinds)
    indices = pc.indices_nonzero(pc.fill_null(pc.match_substring_regex(chunk, pattern), False))
    rows = chunk.take(indices)
    maybe = {k: pc.match_substring_regex(rows, _PREFILTERS[k]).to_pylist() for k in KINDS}
    for i, (index, text) in enumerate(zip(indices.to_pylist(), rows.to_pylist(), strict=True)):
        yield index, text, {k for k in KINDS if maybe[k][i]}


def count_pii(texts: Texts) -> dict[str, int]:
    """Items of each kind over all rows; every kind is a key, 0 when none was found."""
    counts = dict.fromkeys(KINDS, 0)
    for chunk in text_chunks(texts):
        for _, text, maybe in _candidates(chunk, KINDS):
            for span in find_spans(text, maybe):
                counts[span.kind] += 1
    return counts


def _redacted(
    text: str, maybe: set[str], kinds: tuple[str, ...], counts: dict[str, int]
) -> str | None:
    """The text with its items of `kinds` replaced, or None when it has none."""
    spans = [s for s in find_spans(text, maybe) if s.kind in kinds]
    if not spans:
        return None
    parts, pos = [], 0
    for span in spans:
        parts += [text[pos : span.start], placeholder(span.kind)]
        counts[span.kind] += 1
        pos = span.end
    parts.append(text[pos:])
    return "".join(parts)


def _redact_chunk(chunk: pa.Array, kinds: tuple[str, ...], counts: dict[str, int]) -> pa.Array:
    changed: list[int] = []
    replacements: list[str] = []
    for index, text, maybe in _candidates(chunk, kinds):
        new = _redacted(text, maybe, kinds, counts)
        if new is not None:
            changed.append(index)
            replacements.append(new)
    if not changed:
        return chunk
    mask = np.zeros(len(chunk), dtype=np.bool_)
    mask[changed] = True
    return pc.replace_with_mask(chunk, pa.array(mask), pa.array(replacements, type=chunk.type))


def redact(texts: Texts, kinds: Sequence[str] = KINDS) -> tuple[pa.Array, dict[str, int]]:
    """Replace each item of `kinds` by its placeholder ("[EMAIL]", "[SECRET]", ...).

    Returns the redacted array (same length and type, nulls kept) and the items replaced
    per kind asked for (each a key, 0 when none). Overlaps are settled across all kinds
    first (see the module docstring), so a card number is never redacted as a phone, even
    when only phones are asked for.
    """
    chosen = _check_kinds(kinds)
    counts = dict.fromkeys(chosen, 0)
    chunks = [_redact_chunk(chunk, chosen, counts) for chunk in text_chunks(texts)]
    if not chunks:
        return pa.array([], type=pa.string()), counts
    return (chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks)), counts
