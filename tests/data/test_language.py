import subprocess
import sys

import pyarrow as pa
import pytest

from lmops.core.errors import InvalidInput
from lmops.data.language import detect, language_mix

SENTENCES = {
    "en": "The committee will publish its annual report on the state of the river next week.",
    "fr": "Le comité publiera la semaine prochaine son rapport annuel sur l'état de la rivière.",
    "de": "Der Ausschuss veröffentlicht nächste Woche seinen Jahresbericht über den Fluss.",
    "es": "El comité publicará la próxima semana su informe anual sobre el estado del río.",
    "zh": "委员会将于下周发布关于这条河流状况的年度报告。",
}


def test_detects_each_language() -> None:
    assert detect(list(SENTENCES.values())) == list(SENTENCES)


def test_short_or_empty_text_is_undetermined() -> None:
    assert detect(["", "   ", "ok", "42 + 17 = 59", "!!! ###", "a1 b2"]) == ["und"] * 6


def test_importing_does_not_load_the_model() -> None:
    code = (
        "import sys, lmops.data.language as l; "
        "assert 'py3langid' not in sys.modules; "
        "l.detect(['bonjour tout le monde']); "
        "assert 'py3langid' in sys.modules"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


def test_language_mix_counts_a_sample() -> None:
    rows = [SENTENCES["en"]] * 6 + [SENTENCES["fr"]] * 3 + [SENTENCES["de"], "", None, "  "]
    texts = pa.chunked_array([rows[:5], rows[5:]])
    mix, sampled = language_mix(texts)
    assert (mix, sampled) == ({"en": 6, "fr": 3, "de": 1}, 10)
    assert list(mix) == ["en", "fr", "de"]


def test_language_mix_ties_are_alphabetical() -> None:
    texts = pa.array([SENTENCES["fr"], SENTENCES["de"], SENTENCES["es"]])
    assert list(language_mix(texts)[0]) == ["de", "es", "fr"]


def test_language_mix_sample_is_deterministic() -> None:
    rows = [f"{SENTENCES[lang]} ({i})" for i in range(40) for lang in ("en", "fr", "de", "es")]
    texts = pa.chunked_array([rows[:70], rows[70:]])
    first = language_mix(texts, sample=25, seed=7)
    assert first == language_mix(texts, sample=25, seed=7)
    assert first[1] == 25
    assert sum(first[0].values()) == 25
    draws = {tuple(sorted(language_mix(texts, sample=25, seed=s)[0].items())) for s in range(8)}
    assert len(draws) > 1  # the seed really picks the rows
    assert language_mix(texts, sample=0) == ({}, 0)


def test_language_mix_rejects_negative_sample() -> None:
    with pytest.raises(InvalidInput) as info:
        language_mix(pa.array(["x"]), sample=-1)
    assert info.value.field == "sample"
