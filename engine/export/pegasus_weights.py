"""A Pegasus checkpoint as the graph writer needs it: its full config, and each tensor by name.

``PegasusWeights.from_checkpoint(folder)`` reads a checkpoint folder with numpy alone
(``checkpoint_reader``: safetensors or a restricted reader of ``pytorch_model.bin``), one tensor
when asked, so the export holds about one layer at a time, never the model, and needs neither
torch nor transformers. ``PegasusWeights.from_model(model)`` serves the same names
from a ``PegasusForConditionalGeneration`` already loaded in torch (fast-Pegasus's
``export_and_get_onnx_model(model)``). Both give the same bytes for the same checkpoint, so their
exports are the same file (tests/test_torch_free_export.py).

What transformers does when it builds the model, this module does by hand, as transformers 5 does:
- the config is ``PegasusConfig``'s defaults updated by the checkpoint's ``config.json``;
- when ``tie_word_embeddings`` (the default), ``model.shared.weight`` serves the encoder's and the
  decoder's ``embed_tokens`` and the ``lm_head``; untied, each has its own (the shared one when
  the checkpoint leaves one out);
- ``final_logits_bias`` is zeros when the checkpoint has none;
- the sinusoidal position tables are computed (``sinusoidal_positions``) unless the checkpoint
  stores them;
- a checkpoint of the bare ``PegasusModel`` names its tensors without the ``model.`` prefix;
- weights stored as float16 or bfloat16 are widened to float32, exactly.

This module knows nothing about ONNX or quantization.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.errors import EngineError

# transformers 5's PegasusConfig() defaults for the keys a Pegasus export reads (a test compares
# them with transformers'), so that a config.json that leaves one out means what it means there.
PEGASUS_DEFAULTS = {
    "model_type": "pegasus",
    "vocab_size": 50265,
    "max_position_embeddings": 1024,
    "d_model": 1024,
    "encoder_layers": 12,
    "decoder_layers": 12,
    "encoder_attention_heads": 16,
    "decoder_attention_heads": 16,
    "encoder_ffn_dim": 4096,
    "decoder_ffn_dim": 4096,
    "activation_function": "gelu",
    "scale_embedding": False,
    "tie_word_embeddings": True,
    "is_encoder_decoder": True,
    "decoder_start_token_id": 0,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "forced_eos_token_id": 1,
}
LAYER_NORM_EPS = 1e-5  # torch.nn.LayerNorm's default, which every Pegasus layer norm uses
SHARED = "model.shared.weight"
# Served by the shared embedding when the config ties them (the default), or the checkpoint left them out.
_TIED_TO_SHARED = ("model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight", "lm_head.weight")
_POSITIONS = ("model.encoder.embed_positions.weight", "model.decoder.embed_positions.weight")


def sinusoidal_positions(positions: int, dim: int) -> np.ndarray:
    """(positions, dim) float32: transformers' ``PegasusSinusoidalPositionalEmbedding.create_weight``,
    computed the same way (float64 angles, then float32), so the bytes are equal: sines in the
    first half, cosines in the second, not interleaved."""
    j = np.arange(dim)
    angles = np.arange(positions, dtype=np.float64)[:, None] / np.power(10000, 2 * (j // 2) / dim)[None, :]
    sentinel = dim // 2 if dim % 2 == 0 else dim // 2 + 1
    out = np.empty((positions, dim), dtype=np.float32)
    out[:, :sentinel] = np.sin(angles[:, 0::2]).astype(np.float32)
    out[:, sentinel:] = np.cos(angles[:, 1::2]).astype(np.float32)
    return out


class PegasusWeights:
    """The config and the float32 tensors of one Pegasus checkpoint, by transformers' names
    (``model.encoder.layers.0.fc1.weight``, ``lm_head.weight``, ...), each read when asked."""

    def __init__(self, config: dict, names: set[str], read: Callable[[str], np.ndarray]) -> None:
        self.config = {**PEGASUS_DEFAULTS, **config}
        self._read = read
        self._names = names
        self._prefix = "" if SHARED not in names and SHARED.removeprefix("model.") in names else "model."

    @classmethod
    def from_checkpoint(cls, folder: Path) -> PegasusWeights:
        """Read ``config.json`` and map the weights of a checkpoint folder, without torch."""
        from engine.export.checkpoint import check_is_pegasus
        from engine.export.checkpoint_reader import open_tensors

        config = check_is_pegasus(Path(folder))
        tensors = open_tensors(Path(folder))
        return cls(config, set(tensors.names), tensors.get)

    @classmethod
    def from_model(cls, model) -> PegasusWeights:
        """The weights of a ``PegasusForConditionalGeneration`` loaded in torch (no copy until read)."""
        state = model.state_dict()
        config = model.config.to_dict()
        return cls(config, set(state), lambda name: state[name].detach().float().cpu().numpy())

    def embed_scale(self) -> float:
        return math.sqrt(self.config["d_model"]) if self.config["scale_embedding"] else 1.0

    def __getitem__(self, name: str) -> np.ndarray:
        """The float32 tensor ``name`` (transformers' name in a PegasusForConditionalGeneration)."""
        if name in _TIED_TO_SHARED and (self.config["tie_word_embeddings"] or not self._has(name)):
            name = SHARED
        if name in _POSITIONS and not self._has(name):
            return sinusoidal_positions(self.config["max_position_embeddings"], self.config["d_model"])
        if name == "final_logits_bias" and not self._has(name):
            return np.zeros((1, self.config["vocab_size"]), dtype=np.float32)
        return self._float32(name, self._read(self._stored_name(name)))

    def _stored_name(self, name: str) -> str:
        if name.startswith("model.") and self._prefix == "":
            name = name.removeprefix("model.")
        if name not in self._names:
            raise EngineError(
                f"The checkpoint has no tensor {name!r}: it is not a complete Pegasus checkpoint "
                f"(or its config.json does not match its weights). Download it again."
            )
        return name

    def _has(self, name: str) -> bool:
        try:
            self._stored_name(name)
        except EngineError:
            return False
        return True

    @staticmethod
    def _float32(name: str, array: np.ndarray) -> np.ndarray:
        if array.dtype == np.float32:
            return array
        if np.issubdtype(array.dtype, np.floating):
            return array.astype(np.float32)  # float16 widens exactly
        raise EngineError(f"The checkpoint's tensor {name!r} holds {array.dtype} values, not floating-point weights.")


def write_configs(weights: PegasusWeights, checkpoint: Path, out: Path) -> None:
    """Write the export's ``config.json`` (the full config) and ``generation_config.json`` (the
    checkpoint's own, else the generation keys of its config, as transformers would derive it)."""
    from engine.model import CONFIG_GENERATION_KEYS

    (out / "config.json").write_text(json.dumps(weights.config, indent=2, sort_keys=True), encoding="utf-8")
    source = checkpoint / "generation_config.json"
    if source.is_file():
        try:
            generation = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise EngineError(f"The generation_config.json in {checkpoint} cannot be read: {e}") from e
    else:
        generation = {k: weights.config[k] for k in CONFIG_GENERATION_KEYS if weights.config.get(k) is not None}
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2, sort_keys=True), encoding="utf-8")
