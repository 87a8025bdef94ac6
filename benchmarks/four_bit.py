"""Weights in onnxruntime's ``MatMulNBits`` form, for ``experiments kernels``, ``bandwidth`` and
``four-bit-decoder``: how fast, and how faithful, would a summary be with 4-bit (or 8-bit block)
weights instead of our per-channel int8? The engine does not ship this form; ``benchmarks/NOTES.md``
says why. This module knows nothing about timing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


def nbits(model: onnx.ModelProto, *, bits: int, block_size: int) -> onnx.ModelProto:
    """``model`` with every constant-weight MatMul as ``MatMulNBits``: ``bits``-bit symmetric weights,
    one scale per ``block_size`` of them, int8 activations (accuracy level 4)."""
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    config = DefaultWeightOnlyQuantConfig(block_size=block_size, is_symmetric=True, accuracy_level=4, bits=bits)
    quantizer = MatMulNBitsQuantizer(model, algo_config=config)
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)  # a line per node
    quantizer.process()
    return quantizer.model.model


def four_bit_decoder(fp32_export: Path, block_size: int) -> onnx.ModelProto:
    """The fp32 export's decoder with every constant-weight MatMul (and the lm_head) in 4 bits."""
    model = onnx.load(str(fp32_export / "decoder.onnx"))
    _lm_head_as_matmul(model)
    return nbits(model, bits=4, block_size=block_size)


def _lm_head_as_matmul(model: onnx.ModelProto) -> None:
    """Our lm_head is ``Gemm(hidden, rows, transB=1)``; the quantizer takes MatMuls by a (K, N) weight."""
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Gemm":
            rows = numpy_helper.to_array(initializers[node.input[1]])  # (vocab, d_model)
            columns = numpy_helper.from_array(np.ascontiguousarray(rows.T), f"{node.input[1]}.T")
            model.graph.initializer.append(columns)
            node.op_type, node.input[1] = "MatMul", columns.name
            del node.attribute[:]
