"""PaDiM's embedding head as plain ONNX on top of a backbone graph (no torch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hamacho_core.graphs import backbone_subgraph, finish_graph, resize_to_first


def embedding_graph(backbone_graph: bytes, layers: Sequence[str], channel_idx: np.ndarray) -> bytes:
    """PaDiM's embedding: layers nearest-upsampled to the first layer's grid, concatenated, and the
    model's channel subset taken."""
    from onnx import helper, numpy_helper

    model = backbone_subgraph(backbone_graph, layers)
    nodes, inits = [], []
    parts = [layer if i == 0 else resize_to_first(layer, layers[0], "nearest", f"hmc_l{i}", nodes, inits)
             for i, layer in enumerate(layers)]
    nodes.append(helper.make_node("Concat", parts, ["hmc_concat"], axis=1))
    inits.append(numpy_helper.from_array(np.asarray(channel_idx, np.int64), "hmc_channel_idx"))
    nodes.append(helper.make_node("Gather", ["hmc_concat", "hmc_channel_idx"], ["hmc_subset"], axis=1))
    return finish_graph(model, nodes, inits, "hmc_subset", len(channel_idx))
