"""PatchCore's embedding head as plain ONNX on top of a backbone graph (no torch)."""

from __future__ import annotations

from collections.abc import Sequence

from hamacho_core.graphs import backbone_subgraph, channel_pool_matrix, finish_graph, resize_to_first


def embedding_graph(backbone_graph: bytes, layers: Sequence[str], channels: Sequence[int],
                    feature_dim: int | None) -> bytes:
    """PatchCore's embedding: per layer 3x3 average (zero padding counted), bilinear upsampling to
    the first layer's grid, concatenation; wider than ``feature_dim`` -> adaptive channel pooling."""
    from onnx import helper, numpy_helper

    model = backbone_subgraph(backbone_graph, layers)
    nodes, inits, parts = [], [], []
    for i, layer in enumerate(layers):
        pooled = f"hmc_pool{i}"
        nodes.append(helper.make_node("AveragePool", [layer], [pooled], kernel_shape=[3, 3], strides=[1, 1],
                                      pads=[1, 1, 1, 1], count_include_pad=1))
        parts.append(pooled if i == 0 else resize_to_first(pooled, "hmc_pool0", "linear", f"hmc_l{i}", nodes, inits))
    out = "hmc_concat"
    nodes.append(helper.make_node("Concat", parts, [out], axis=1))
    width = int(sum(channels))
    if feature_dim is not None and width > feature_dim:
        inits.append(numpy_helper.from_array(channel_pool_matrix(width, feature_dim), "hmc_pool_matrix"))
        nodes += [helper.make_node("Transpose", [out], ["hmc_nhwc"], perm=[0, 2, 3, 1]),
                  helper.make_node("MatMul", ["hmc_nhwc", "hmc_pool_matrix"], ["hmc_pooled"]),
                  helper.make_node("Transpose", ["hmc_pooled"], ["hmc_reduced"], perm=[0, 3, 1, 2])]
        out = "hmc_reduced"
        width = feature_dim
    return finish_graph(model, nodes, inits, out, width)
