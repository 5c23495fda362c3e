"""The engine (`striate.engine`): it depends on nothing above it, and its pieces compose to the
numbers the ops document. The ops' own tests (test_ops_conv*, test_ops_pool) check it through
every layout and gather path."""

import ast
import pathlib

import numpy as np
import pytest

import striate.engine
from striate.engine import conv_gemm, pooling
from striate.engine.blocks import PixelBlocks
from striate.ops.geometry import pad, unpad

ENGINE = pathlib.Path(striate.engine.__file__).parent


@pytest.mark.parametrize("path", sorted(ENGINE.glob("*.py")), ids=lambda p: p.name)
def test_engine_imports_nothing_above_it(path):
    """Engine functions take and return arrays: no op, no Tensor, no layer, no callback. It may
    run pieces on threads (`striate.parallel`)."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    above = {
        name
        for name in imported
        if name.startswith("striate")
        and name != "striate.parallel"
        and not name.startswith("striate.engine")
    }
    assert not above


@pytest.mark.parametrize("pads", [((0, 0), (0, 0)), ((1, 1), (0, 2)), ((0, 3), (2, 0))])
def test_unpad_inverts_pad(pads):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    padded = pad(x, *pads, -np.inf)
    assert padded.shape == (2, 3 + sum(pads[0]), 4 + sum(pads[1]), 5)
    assert np.array_equal(unpad(padded, *pads), x)
    assert (pad(x, *pads, 0) is x) == (pads == ((0, 0), (0, 0)))


@pytest.mark.parametrize("channels, kernel_major", [(1, True), (4, True), (5, False), (8, False)])
def test_patch_matrix_layout_follows_the_channel_count(channels, kernel_major):
    geo = conv_gemm.ConvGeometry(
        (2, 5, 5, channels), (3, 3, channels, 4), (1, 1), (0, 0), (0, 0), (3, 3), None
    )
    patches = conv_gemm.patch_matrix(geo, np.float32, ones=True)
    assert patches.shape == (2 * 3 * 3, 3 * 3 * channels + 1)
    assert patches.T.flags.c_contiguous == kernel_major
    assert patches.flags.c_contiguous == (not kernel_major)


@pytest.mark.parametrize("pooled", [False, True])
def test_conv_pieces_compose_to_one_gemm(pooled):
    """conv_rows and kernel_gradient on pieces of the batch equal the whole-batch products."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 7, 6, 2))
    kernel, bias = rng.standard_normal((2, 3, 2, 4)), rng.standard_normal(4)
    geo = conv_gemm.ConvGeometry(
        x.shape, kernel.shape, (1, 1), (0, 0), (0, 0), (6, 4), PixelBlocks(3, 6, 4), pooled
    )
    wb = conv_gemm.kernel_with_bias(kernel, bias)
    patches = conv_gemm.patch_matrix(geo, x.dtype, ones=True)
    rows = np.empty((geo.rows, 4))
    for n0, n1 in [(0, 1), (1, 3)]:
        conv_gemm.conv_rows(x[n0:n1], wb, patches, rows, geo, n0, n1)
    expected = np.empty((3, 6, 4, 4))
    for i in range(6):
        for j in range(4):
            expected[:, i, j] = np.tensordot(x[:, i : i + 2, j : j + 3], kernel, axes=3) + bias
    blocks = geo.blocks
    if pooled:
        assert np.allclose(blocks.scatter(rows, pooled_only=True), expected)
    else:
        assert np.allclose(blocks.scatter(rows), expected)
    g_rows = rng.standard_normal(rows.shape)
    shares = [
        conv_gemm.kernel_gradient(patches, g_rows, geo, n0, n1) for n0, n1 in [(0, 1), (1, 3)]
    ]
    assert np.allclose(conv_gemm.add_in_order(shares), patches.T @ g_rows)


@pytest.mark.parametrize("take_max_channels", [0, 10**9])
def test_pooling_gradients_reach_the_padded_input(take_max_channels):
    """Each way back (first max, tournament winner, every cell) on both gather paths."""
    rng = np.random.default_rng(2)
    x_pad = rng.standard_normal((2, 6, 6, 3))
    windows = pooling.Windows(
        x_pad.shape, (2, 2), (2, 2), (0, 0), (0, 0), (3, 3), take_max_channels
    )
    x_pad = windows.source(x_pad)
    out, code = pooling.running_max(windows, x_pad, recording=True)
    pairs, masks = pooling.tournament(*windows.all_parts(x_pad), recording=True)
    assert np.array_equal(out, pairs)
    g = rng.standard_normal(out.shape)
    first = pooling.to_first_max(windows, g, code)
    assert np.array_equal(first, pooling.to_tournament_winner(windows, g, masks))
    window_max = out.repeat(2, axis=1).repeat(2, axis=2)
    assert np.array_equal(first != 0, x_pad == window_max)
    spread = pooling.to_every_cell(windows, g, 0.25)
    assert np.array_equal(spread, (g * 0.25).repeat(2, axis=1).repeat(2, axis=2))
    assert np.allclose(
        pooling.window_sum(windows, x_pad) * 0.25, x_pad.reshape(2, 3, 2, 3, 2, 3).mean(axis=(2, 4))
    )
