"""Pure-numpy decoding loop: greedy search, sampling and beam search over an abstract decoder.

Matches transformers 5's `generate()` token for token. Imports only numpy and the standard
library; it knows nothing about ONNX, torch or tokenization.
"""

from .decoder import DecoderState, MakeState
from .drafting import DraftStats, DraftVerifier
from .options import GenerationConfig, GenerationOptions
from .search import generate, pick_next_tokens

__all__ = [
    "DecoderState",
    "DraftStats",
    "DraftVerifier",
    "GenerationConfig",
    "GenerationOptions",
    "MakeState",
    "generate",
    "pick_next_tokens",
]
