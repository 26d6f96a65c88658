"""WordLlama static embeddings for the packing benchmark's dense ablation, loaded from the
package's own files (its loader looks for the tokenizer in the wrong folder and would
download it). Not a dependency of Carrel: fusing them did not pay (bench/README.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import wordllama
from safetensors import safe_open
from tokenizers import Tokenizer
from wordllama.inference import WordLlamaInference


class WordLlamaEmbedder:
    name = "WordLlama l2_supercat 256"

    def __init__(self) -> None:
        package = Path(wordllama.__file__).parent
        tokenizer = Tokenizer.from_file(
            str(package / "tokenizers" / "l2_supercat_tokenizer_config.json")
        )
        weights = package / "weights" / "l2_supercat_256.safetensors"
        with safe_open(str(weights), framework="np", device="cpu") as handle:
            embedding = handle.get_tensor("embedding.weight")
        self._model = WordLlamaInference(embedding, tokenizer)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.embed(list(texts), norm=True), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_passages([text])[0]
