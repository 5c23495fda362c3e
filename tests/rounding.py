"""What striate promises when two paths do the same math with GEMMs of different shapes or row
orders (docs/NUMERICS.md): agreement within float rounding, not bit for bit.

A BLAS may round a GEMM's rows differently depending on the GEMM's height, on where it is cut
and on the order of its rows (OpenBLAS's Haswell kernels on AMD do; its SkylakeX kernels on Intel
happen not to in striate's shapes). Each element of such a result is a sum of products; two
summation orders of the same sum differ by a few units in the last place (ulps) of the
magnitudes summed, which for the results striate compares is at most the magnitude of the
largest element of the result (its *scale*). So the documented tolerance is

    |got - want| <= ULPS * eps(dtype) * (|want| + scale),     scale = max |want|

that is `rtol = atol / scale = ULPS * eps`. ULPS = 16: on the AMD machine where the bit-for-bit
promises broke, the largest difference seen was 0.03 ulp of the scale (fused vs unfused convnet:
5.0e-08 on a scale of 16), so 16 ulps leaves a wide margin, and a real bug (a wrong gradient, a
lost bias, a mis-routed pool) is larger than 16 ulps of the scale by orders of magnitude.
"""

import numpy as np

ULPS = 16


def rounding_tolerance(want, ulps=ULPS):
    """(rtol, atol) for comparing a result with `want` computed by another GEMM order."""
    want = np.asarray(want)
    eps = float(np.finfo(want.dtype).eps)
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    return ulps * eps, ulps * eps * scale


def assert_equal_within_rounding(got, want, ulps=ULPS, what=""):
    """Same dtype and shape, and values within `rounding_tolerance` of `want`."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    rtol, atol = rounding_tolerance(want, ulps)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)
