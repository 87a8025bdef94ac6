"""A small writer of ONNX graphs whose weights go straight to a shared external-data file.

Building graphs node by node, instead of tracing torch modules, lets every reshape use a constant
shape (no ``Shape -> Gather -> Concat`` chains that run at every decoder step) and keeps export
memory near the checkpoint's own size: each weight is written to ``weights.bin`` as soon as it is
added, and the graph protobuf holds none of them.

This module knows nothing about Pegasus or torch: it writes nodes, names and bytes.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from engine.export.weights import INLINE_LIMIT, SharedWriter, set_external

OPSET = 17  # LayerNormalization is one op from 17 on, which onnxruntime runs as one kernel.
IR_VERSION = 8  # the IR of opset 17; onnx writes a newer one by default that older runtimes refuse


class GraphBuilder:
    """Nodes, inputs, outputs and initializers of one graph; ``op`` returns output names."""

    def __init__(self, name: str, writer: SharedWriter) -> None:
        self.name, self.writer = name, writer
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._ids = itertools.count()
        self._constants: dict[tuple, str] = {}

    def input(self, name: str, elem_type: int, shape: list) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def output(self, value: str, name: str, elem_type: int, shape: list) -> None:
        """Expose ``value`` as the graph output ``name``; build it with ``op(names=[name])`` to avoid
        an ``Identity``, which onnxruntime keeps (a copy per run) when it feeds a graph output."""
        if value != name:
            self.nodes.append(helper.make_node("Identity", [value], [name]))
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))

    def weight(self, name: str, array: np.ndarray) -> str:
        """A named initializer; large ones are written to the shared file now, not kept in memory."""
        array = np.ascontiguousarray(array)
        if array.nbytes < INLINE_LIMIT:
            self.initializers.append(numpy_helper.from_array(array, name))
            return name
        tensor = TensorProto()
        tensor.name = name
        tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
        tensor.dims.extend(array.shape)
        offset, length = self.writer.place(tensor.data_type, array)
        set_external(tensor, offset, length)
        self.initializers.append(tensor)
        return name

    def const(self, values, dtype=np.int64) -> str:
        """A small constant (shapes, axes, scalars), added once per distinct value."""
        array = np.asarray(values, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._constants:
            self._constants[key] = self.weight(f"const_{len(self._constants)}", array)
        return self._constants[key]

    def op(self, op_type: str, *inputs: str, outputs: int = 1, names: list[str] | None = None, domain: str = "",
           **attributes):
        """Add one node; returns its output name, or a list of them when ``outputs`` > 1.

        ``names`` gives the outputs public names (a graph output's), instead of generated ones.
        """
        prefix = f"{op_type}_{next(self._ids)}"
        names = names or [f"{prefix}/out{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=prefix, domain=domain or None,
                                           **attributes))
        return names[0] if outputs == 1 else names

    def save(self, path: Path) -> Path:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)]
        model = helper.make_model(graph, opset_imports=opsets, ir_version=IR_VERSION,
                                  producer_name="pegasus-desktop")
        onnx.save_model(model, str(path))
        return path
