import random
from collections import Counter

import pyarrow as pa
import pytest

from lmops.core.errors import InvalidInput
from lmops.data.pii import KINDS, count_pii, find_spans, iban_ok, luhn_ok, redact


def only(kind: str, n: int) -> dict[str, int]:
    return {k: (n if k == kind else 0) for k in KINDS}


def found(text: str) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in find_spans(text)]


@pytest.mark.parametrize(
    ("text", "kind", "item"),
    [
        (
            "Write to jane.doe+news@mail.example.co.uk today.",
            "email",
            "jane.doe+news@mail.example.co.uk",
        ),
        ("Call +1 (415) 555-0132 after nine.", "phone", "+1 (415) 555-0132"),
        ("Call (415) 555-0132 after nine.", "phone", "(415) 555-0132"),
        ("Call 415-555-0132 after nine.", "phone", "415-555-0132"),
        ("Toll free 1-800-555-0199.", "phone", "1-800-555-0199"),
        ("London office: +44 20 7946 0958.", "phone", "+44 20 7946 0958"),
        ("Bureau : 01 23 45 67 89.", "phone", "01 23 45 67 89"),
        ("Berlin (030) 1234 5678 anrufen", "phone", "(030) 1234 5678"),
        ("Handy +4915112345678 bitte", "phone", "+4915112345678"),
        ("Visa 4111 1111 1111 1111 on file", "credit_card", "4111 1111 1111 1111"),
        ("Card 5500-0000-0000-0004 expired", "credit_card", "5500-0000-0000-0004"),
        ("Amex 3782 822463 10005.", "credit_card", "3782 822463 10005"),
        ("raw 4012888888881881 here", "credit_card", "4012888888881881"),
        ("Pay to DE89 3704 0044 0532 0130 00 please", "iban", "DE89 3704 0044 0532 0130 00"),
        ("IBAN GB82WEST12345698765432 FOR RENT", "iban", "GB82WEST12345698765432"),
        ("Konto NO9386011117947.", "iban", "NO9386011117947"),
        ("host 192.168.10.24 is down", "ip_address", "192.168.10.24"),
        ("resolver 8.8.8.8.", "ip_address", "8.8.8.8"),
        ("route 2001:db8::8a2e:370:7334 added", "ip_address", "2001:db8::8a2e:370:7334"),
        ("loopback ::1 only", "ip_address", "::1"),
        ("mapped ::ffff:192.0.2.128 seen", "ip_address", "::ffff:192.0.2.128"),
        ("key AKIAIOSFODNN7EXAMPLE leaked", "secret", "AKIAIOSFODNN7EXAMPLE"),
        ("gh ghp_" + "Ab1" * 12 + " pushed", "secret", "ghp_" + "Ab1" * 12),
        (
            "fine-grained github_pat_11ABCDEFG0123456789_abcdefXYZ",
            "secret",
            "github_pat_11ABCDEFG0123456789_abcdefXYZ",
        ),
        (
            "OPENAI sk-proj-abc123DEF456ghi789JKL012 set",
            "secret",
            "sk-proj-abc123DEF456ghi789JKL012",
        ),
        ("slack xoxb-1234567890-abcdefGHIJ ok", "secret", "xoxb-1234567890-abcdefGHIJ"),
        (
            "maps AIzaSyA1234567890abcdefghijklmnopqrstuv ok",
            "secret",
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        ),
        (
            "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc ok",
            "secret",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        ),
        ("stripe rk_live_51H8abcDEF123ghiJKL ok", "secret", "rk_live_51H8abcDEF123ghiJKL"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P ok",
            "secret",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P",
        ),
        (
            "x -----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- y",
            "secret",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        ),
        (
            "-----BEGIN OPENSSH PRIVATE KEY----- (cut)",
            "secret",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
        ),
        ("db password=hunter2 in prod", "secret", "hunter2"),
        ('OPENAI_API_KEY = "abc123xyz"', "secret", "abc123xyz"),
        ('{"token": "t0k3n-value"}', "secret", "t0k3n-value"),
        ("GET /x?access_token=abcd1234&page=2", "secret", "abcd1234"),
        ("client_secret='s3cr3t!'", "secret", "s3cr3t!"),
    ],
)
def test_detects_each_kind(text: str, kind: str, item: str) -> None:
    assert found(text) == [(kind, item)]
    assert count_pii(pa.array([text])) == only(kind, 1)


@pytest.mark.parametrize(
    "text",
    [
        "Card 4111 1111 1111 1112 fails Luhn",
        "zeros 0000 0000 0000 0000 and 4444 4444 4444 4444",
        "Pay to DE88 3704 0044 0532 0130 00 please",  # check digits off by one
        "Short DE89 3704 0044 0532 0130",  # too short for Germany
        "Unknown QQ89 3704 0044 0532 0130 00",
        "host 999.1.1.1 and 1.2.3.4.5 and 010.1.1.1 and v1.2.3.4",
        "In 2024 sales grew",
        "It costs $1,299.99 or 19.99 EUR",
        "Order #10023456789 and ORD-2024-001234 and invoice 2024-001234",
        "tracking number 12345678901234567890",
        "Met on 2024-05-12, 12/05/2024 and 01.05.2024 at 10:30:45",
        "pi is 3.14159265 and e is 2.71828",
        "about 1,250,000 people",
        "C++ uses std::vector and Rust uses ab::cd",
        "mac 00:1a:2b:3c:4d:5e",
        "password=None api_key=os.environ['X'] token=settings.token api_key=api_key",
        "max_tokens=512 pad_token='<pad>' eos_token = '</s>' password = '***' if password==x",
        "if password==secret_value or token = = 3: api_key: None",
        "sk-learn-contrib-something-long is a package; the secret: of life",
        "user at example dot com, @handle, a@b",
    ],
)
def test_ignores_lookalikes(text: str) -> None:
    assert found(text) == []
    assert count_pii(pa.array([text])) == only("email", 0)


def test_one_span_belongs_to_one_kind() -> None:
    # Each of these is also a lower-precedence kind's lookalike.
    assert found("4111111111111111") == [("credit_card", "4111111111111111")]
    assert found("api_key=sk-proj-abc123DEF456ghi789JKL012") == [
        ("secret", "sk-proj-abc123DEF456ghi789JKL012")
    ]
    assert found("token=jane@example.com") == [("secret", "jane@example.com")]
    assert found('password="+1 415 555 0132"') == [("secret", "+1 415 555 0132")]
    assert found("mail 415.555.0132@example.com") == [("email", "415.555.0132@example.com")]


def test_counts_per_kind_over_rows() -> None:
    texts = pa.chunked_array(
        [
            ["a@x.io and b@y.org", None, "call 415-555-0132", ""],
            ["4111 1111 1111 1111 then 4111 1111 1111 1112", "10.0.0.1 to 10.0.0.2 via ::1"],
            ["DE89 3704 0044 0532 0130 00", "password=hunter2 AKIAIOSFODNN7EXAMPLE", "plain"],
        ]
    )
    assert count_pii(texts) == {
        "email": 2,
        "phone": 1,
        "credit_card": 1,
        "iban": 1,
        "ip_address": 3,
        "secret": 2,
    }


def test_redact_replaces_items_and_keeps_nulls() -> None:
    texts = pa.array(
        [
            "Mail jane@example.com or call +1 (415) 555-0132.",
            None,
            "nothing here",
            "card 4111 1111 1111 1111, password=hunter2, host 10.0.0.1",
            "",
            "IBAN DE89 3704 0044 0532 0130 00 key AKIAIOSFODNN7EXAMPLE",
        ]
    )
    redacted, counts = redact(texts)
    assert redacted.to_pylist() == [
        "Mail [EMAIL] or call [PHONE].",
        None,
        "nothing here",
        "card [CREDIT_CARD], password=[SECRET], host [IP_ADDRESS]",
        "",
        "IBAN [IBAN] key [SECRET]",
    ]
    assert counts == {
        "email": 1,
        "phone": 1,
        "credit_card": 1,
        "iban": 1,
        "ip_address": 1,
        "secret": 2,
    }
    assert redacted.type == pa.string()
    assert count_pii(redacted) == only("email", 0)
    again, counts_again = redact(redacted)
    assert again.equals(redacted)
    assert counts_again == only("email", 0)
    assert list(counts_again) == list(KINDS)


def test_redact_only_the_kinds_asked_for() -> None:
    texts = pa.chunked_array(
        [["jane@example.com 415-555-0132"], ["4111 1111 1111 1111", "call 415-555-0132"]]
    )
    redacted, counts = redact(texts, kinds=["phone", "iban", "phone"])
    assert redacted.to_pylist() == [
        "jane@example.com [PHONE]",
        "4111 1111 1111 1111",  # a card is never taken for a phone
        "call [PHONE]",
    ]
    assert counts == {"phone": 2, "iban": 0}
    assert counts["phone"] == count_pii(texts)["phone"]


def test_redact_keeps_large_string_type() -> None:
    redacted, _ = redact(pa.array(["mail a@b.io", None], type=pa.large_string()))
    assert redacted.type == pa.large_string()
    assert redacted.to_pylist() == ["mail [EMAIL]", None]


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(InvalidInput, match=r"'ssn'.*email, phone, credit_card") as info:
        redact(pa.array(["x"]), kinds=["email", "ssn"])
    assert info.value.field == "kinds"
    assert redact(pa.array(["a@b.io 10.0.0.1"]), kinds="email")[0].to_pylist() == [
        "[EMAIL] 10.0.0.1"
    ]  # one kind may be named alone
    with pytest.raises(InvalidInput):
        redact(pa.array(["x"]), kinds=[])


def test_rejects_non_string_input() -> None:
    with pytest.raises(InvalidInput, match="strings") as info:
        count_pii(pa.array([1, 2]))
    assert info.value.field == "texts"
    assert count_pii(pa.array([None, None])) == only("email", 0)
    assert redact(pa.array([], type=pa.string()))[0].to_pylist() == []


def test_checksums() -> None:
    assert luhn_ok("79927398713")
    assert not luhn_ok("79927398710")
    assert iban_ok("GB82WEST12345698765432")
    assert not iban_ok("GB82WEST12345698765433")
    assert not iban_ok("GB82WEST1234569876543")  # one character short for GB


def test_row_prefilter_never_hides_an_item() -> None:
    # count_pii only looks closely at rows a loose RE2 pattern picks; whatever find_spans
    # finds in any row must be counted, however the fragments are glued together.
    fragments = [
        *("jane@example.com", "+1 (415) 555-0132", "415-555-0132", "020 7946 0958"),
        *("(030) 1234 5678", "4111 1111 1111 1111", "3782 822463 10005"),
        *("DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "192.168.0.1", "::1"),
        *("::ffff:1.2.3.4", "AKIAIOSFODNN7EXAMPLE", "password=hunter2", 'API_KEY="abc123"'),
        *('"token": "xyz1"', "eyJhbGciOi.eyJzdWIiOi.abc", "-----BEGIN PRIVATE KEY-----"),
        *("2024-05-12", "$19.99", "10:30:45", "the", "0", "1", "-", ".", ":", "=", "@", "+"),
        *("(", '"', "é", "key", "secret", "00", "4444"),
    ]
    rng = random.Random(0)
    rows = []
    for _ in range(3000):
        parts = rng.choices(fragments, k=rng.randint(1, 8))
        seps = rng.choices(["", " ", "-", ".", ":", "\n", "=", "/"], k=len(parts))
        rows.append("".join(p + s for p, s in zip(parts, seps, strict=True)))
    expected = Counter(span.kind for row in rows for span in find_spans(row))
    assert count_pii(pa.array(rows)) == {kind: expected[kind] for kind in KINDS}
    assert min(expected[kind] for kind in KINDS) > 100
