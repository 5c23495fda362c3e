"""Exporting striate models for other runtimes: `striate.export.onnx(model, "model.onnx")`
(`striate export MODEL --onnx OUT` on the command line). Needs `pip install 'striate[onnx]'`;
nothing here imports onnx until an export runs."""


def onnx(model, filepath, opset_version=17, nchw_input=False, verbose=True):
    """Write `model` as an ONNX graph that onnxruntime runs with the same outputs: NHWC float32
    input with a dynamic batch `N`, opset `opset_version` (13..21), shapes on every tensor.

    >>> # import striate; striate.export.onnx(model, "digits.onnx")
    """
    from striate.export.onnx_graph import export_onnx

    return export_onnx(model, filepath, opset_version, nchw_input, verbose)


__all__ = ["onnx"]
