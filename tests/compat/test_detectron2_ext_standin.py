"""
Tests of the pure-PyTorch stand-in for Detectron2's compiled extension ``detectron2._C``
(``projects/anchorfree/compat/detectron2_ext_standin.py``) and of the import hook that provides it
(``projects/anchorfree/compat/import_hook.py``).

The deformable-convolution ops are checked against a reference written from the definition of
DCN v1/v2 (bilinear sampling at ``p0 + p_k * dilation + offset_k``, zero outside the image, times
the mask for v2), which does not use ``torchvision.ops.deform_conv2d``; the reference itself is
checked against a scalar, loop-by-loop version and against ``torch.nn.functional.conv2d``.
The ops are called through ``from detectron2 import _C`` with Detectron2's C++ argument order.
Where a compiled ``detectron2._C`` is installed (a build of Detectron2's GitHub source), the tests
of the stand-in's ops skip, saying so, and the import-hook tests check that the compiled one is
used, in every import order.

Long because every op of the stand-in is checked against a reference written here.
"""

import concurrent.futures
import importlib.machinery
import math
import os
import re
import subprocess
import sys
import sysconfig
import textwrap

import pytest
import torch
import torch.nn.functional as F

import anchorfree
from anchorfree.compat import import_hook
from anchorfree.compat.import_hook import (
    STANDIN_PATH,
    Detectron2ExtensionStandInFinder,
    install_detectron2_ext_standin,
    is_standin_active,
)

import detectron2


def _compiled_extension_file():
    """The compiled ``detectron2._C`` of this environment, as Python's own path finder (which
    never consults the stand-in's finder) finds it, or None."""
    spec = importlib.machinery.PathFinder.find_spec("detectron2._C", detectron2.__path__)
    return spec.origin if spec is not None else None


COMPILED_EXT_FILE = _compiled_extension_file()
# The extension this environment must use: the compiled one wherever it exists.
EXPECTED_EXT_FILE = COMPILED_EXT_FILE or STANDIN_PATH
STANDIN_ACTIVE = is_standin_active()
requires_standin = pytest.mark.skipif(
    not STANDIN_ACTIVE, reason="a compiled detectron2._C is installed; the stand-in is not in use"
)
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

PROJECTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(anchorfree.__file__)))
SITE_PACKAGES = sysconfig.get_paths()["purelib"]
BUILD_FROM_SOURCE = re.compile(r"build\w*\s+detectron2\b.*\bsource\b", re.IGNORECASE | re.DOTALL)


def _ext():
    from detectron2 import _C

    return _C


# --------------------------------------------------------------------------------------------
# Reference deformable convolution, from the definition
# --------------------------------------------------------------------------------------------
def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _out_size(size, k, s, p, d):
    return (size + 2 * p - (d * (k - 1) + 1)) // s + 1


def sampling_positions(offset, kernel, stride, padding, dilation, deformable_groups):
    """Sampling points ``p0 + p_k * dilation + offset_k``: (y, x), each (N, dg, K, Ho, Wo).

    Offset layout (Detectron2's and torchvision's): for deformable group ``g`` and kernel tap
    ``k = i * kw + j``, channel ``g*2K + 2k`` is the y offset and ``g*2K + 2k + 1`` the x offset.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    n, _, ho, wo = offset.shape
    k = kh * kw
    off = offset.reshape(n, deformable_groups, k, 2, ho, wo)
    dev, dt = offset.device, offset.dtype
    tap_i = torch.arange(kh, device=dev, dtype=dt).repeat_interleave(kw)  # row of tap k
    tap_j = torch.arange(kw, device=dev, dtype=dt).repeat(kh)  # column of tap k
    p0_y = torch.arange(ho, device=dev, dtype=dt) * sh - ph
    p0_x = torch.arange(wo, device=dev, dtype=dt) * sw - pw
    base_y = p0_y[None, :, None] + (tap_i * dh)[:, None, None]  # (K, Ho, 1)
    base_x = p0_x[None, None, :] + (tap_j * dw)[:, None, None]  # (K, 1, Wo)
    return base_y + off[:, :, :, 0], base_x + off[:, :, :, 1]


def bilinear_zero_padded(img, y, x):
    """Bilinear interpolation of ``img`` (C, H, W) at real positions ``y``, ``x`` (same shape S),
    treating every pixel outside the image as 0. Returns (C, *S)."""
    _, h, w = img.shape
    y0, x0 = torch.floor(y).detach(), torch.floor(x).detach()
    ly, lx = y - y0, x - x0  # fractional parts; differentiable in y, x
    out = 0
    for yy, wy in ((y0, 1 - ly), (y0 + 1, ly)):
        for xx, wx in ((x0, 1 - lx), (x0 + 1, lx)):
            inside = (yy >= 0) & (yy <= h - 1) & (xx >= 0) & (xx <= w - 1)
            vals = img[:, yy.clamp(0, h - 1).long(), xx.clamp(0, w - 1).long()]
            out = out + vals * (wy * wx * inside.to(img.dtype))
    return out


def reference_deform_conv(
    x,
    offset,
    weight,
    mask=None,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    deformable_groups=1,
):
    """out[n, o] = bias[o] + sum_{c in group(o), k} W[o, c, k] * m_k * X[n, c](p0 + p_k*d + dp_k)

    with ``X[n, c](p)`` the bilinear interpolation of channel ``c`` at ``p``, zero outside.
    """
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, w = x.shape
    o, c_per_group, kh, kw = weight.shape
    k = kh * kw
    assert c == c_per_group * groups and o % groups == 0 and c % deformable_groups == 0
    ho = _out_size(h, kh, stride[0], padding[0], dilation[0])
    wo = _out_size(w, kw, stride[1], padding[1], dilation[1])
    assert offset.shape == (n, 2 * deformable_groups * k, ho, wo)
    if mask is not None:
        assert mask.shape == (n, deformable_groups * k, ho, wo)
    ys, xs = sampling_positions(offset, (kh, kw), stride, padding, dilation, deformable_groups)
    c_per_dg, o_per_group = c // deformable_groups, o // groups
    outs = []
    for b in range(n):
        cols = []  # per input channel: (K, Ho, Wo) samples
        for g in range(deformable_groups):
            s = bilinear_zero_padded(x[b, g * c_per_dg : (g + 1) * c_per_dg], ys[b, g], xs[b, g])
            if mask is not None:
                s = s * mask[b, g * k : (g + 1) * k]
            cols.append(s)
        cols = torch.cat(cols)  # (C, K, Ho, Wo)
        per_group = []
        for g in range(groups):
            wg = weight[g * o_per_group : (g + 1) * o_per_group].reshape(
                o_per_group, c_per_group, k
            )
            cg = cols[g * c_per_group : (g + 1) * c_per_group]
            per_group.append(torch.einsum("ock,ckhw->ohw", wg, cg))
        out = torch.cat(per_group)
        if bias is not None:
            out = out + bias[:, None, None]
        outs.append(out)
    return torch.stack(outs)


def naive_deform_conv(x, offset, weight, mask, bias, stride, padding, dilation, groups, dgroups):
    """The same definition with scalar Python loops over every output element and tap."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, w = x.shape
    o, cpg, kh, kw = weight.shape
    ho, wo = _out_size(h, kh, sh, ph, dh), _out_size(w, kw, sw, pw, dw)
    X, OFF, W = x.tolist(), offset.tolist(), weight.tolist()
    M = mask.tolist() if mask is not None else None

    def sample(img, py, px):
        y0, x0 = math.floor(py), math.floor(px)
        v = 0.0
        for yy, wy in ((y0, 1 - (py - y0)), (y0 + 1, py - y0)):
            for xx, wx in ((x0, 1 - (px - x0)), (x0 + 1, px - x0)):
                if 0 <= yy < h and 0 <= xx < w:
                    v += wy * wx * img[yy][xx]
        return v

    out = torch.zeros(n, o, ho, wo, dtype=torch.float64)
    for b in range(n):
        for oc in range(o):
            g = oc // (o // groups)
            for oy in range(ho):
                for ox in range(wo):
                    acc = float(bias[oc]) if bias is not None else 0.0
                    for cg in range(cpg):
                        ci = g * cpg + cg
                        dg = ci // (c // dgroups)
                        for i in range(kh):
                            for j in range(kw):
                                tap = i * kw + j
                                dy = OFF[b][dg * 2 * kh * kw + 2 * tap][oy][ox]
                                dx = OFF[b][dg * 2 * kh * kw + 2 * tap + 1][oy][ox]
                                val = sample(
                                    X[b][ci], oy * sh - ph + i * dh + dy, ox * sw - pw + j * dw + dx
                                )
                                if M is not None:
                                    val *= M[b][dg * kh * kw + tap][oy][ox]
                                acc += W[oc][cg][i][j] * val
                    out[b, oc, oy, ox] = acc
    return out


# Conv settings: (stride, padding, dilation) are (h, w) pairs; asymmetric ones catch h/w swaps.
CASES = {
    "plain_3x3": dict(
        n=2,
        c=3,
        h=6,
        w=7,
        o=4,
        kernel=(3, 3),
        stride=(1, 1),
        padding=(0, 0),
        dilation=(1, 1),
        groups=1,
        dg=1,
    ),
    "g2_dg2_s2_p1_d2_k3x2": dict(
        n=2,
        c=4,
        h=7,
        w=8,
        o=6,
        kernel=(3, 2),
        stride=(2, 2),
        padding=(1, 1),
        dilation=(2, 2),
        groups=2,
        dg=2,
    ),
    "asymmetric_k2x3": dict(
        n=1,
        c=4,
        h=8,
        w=7,
        o=2,
        kernel=(2, 3),
        stride=(1, 2),
        padding=(2, 1),
        dilation=(2, 1),
        groups=1,
        dg=4,
    ),
    "g4_dg2_k1x3": dict(
        n=1,
        c=8,
        h=5,
        w=6,
        o=4,
        kernel=(1, 3),
        stride=(2, 1),
        padding=(0, 2),
        dilation=(1, 2),
        groups=4,
        dg=2,
    ),
}


def make_inputs(case, dtype=torch.float64, device="cpu", offset_scale=2.5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    kh, kw = case["kernel"]
    ho = _out_size(case["h"], kh, case["stride"][0], case["padding"][0], case["dilation"][0])
    wo = _out_size(case["w"], kw, case["stride"][1], case["padding"][1], case["dilation"][1])
    k = kh * kw

    def rand(*shape, scale=1.0):
        t = torch.randn(*shape, generator=gen, dtype=torch.float64) * scale
        return t.to(dtype).to(device)

    return dict(
        x=rand(case["n"], case["c"], case["h"], case["w"]),
        offset=rand(case["n"], 2 * case["dg"] * k, ho, wo, scale=offset_scale),
        weight=rand(case["o"], case["c"] // case["groups"], kh, kw),
        mask=torch.rand(case["n"], case["dg"] * k, ho, wo, generator=gen, dtype=torch.float64)
        .to(dtype)
        .to(device),
        bias=rand(case["o"]),
        out_shape=(case["n"], case["o"], ho, wo),
    )


def ref(case, t, modulated, with_bias=False):
    return reference_deform_conv(
        t["x"],
        t["offset"],
        t["weight"],
        mask=t["mask"] if modulated else None,
        bias=t["bias"] if with_bias else None,
        stride=case["stride"],
        padding=case["padding"],
        dilation=case["dilation"],
        groups=case["groups"],
        deformable_groups=case["dg"],
    )


def close(actual, expected, dtype=torch.float64):
    tol = dict(rtol=1e-9, atol=1e-10) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(actual, expected, **tol)


def _geometry_args_v1(case):
    """kW, kH, dW, dH, padW, padH, dilationW, dilationH, group, deformable_group (C++ order)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
        case["kernel"],
        case["stride"],
        case["padding"],
        case["dilation"],
    )
    return [kw, kh, sw, sh, pw, ph, dw, dh, case["groups"], case["dg"]]


def _geometry_args_v2(case):
    """kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, group,
    deformable_group (C++ order)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
        case["kernel"],
        case["stride"],
        case["padding"],
        case["dilation"],
    )
    return [kh, kw, sh, sw, ph, pw, dh, dw, case["groups"], case["dg"]]


def _standin_deform_conv_forward(case, t):
    out = torch.full(t["out_shape"], float("nan"), dtype=t["x"].dtype, device=t["x"].device)
    columns, ones = t["x"].new_empty(0), t["x"].new_empty(0)
    im2col_step = t["x"].shape[0]
    _ext().deform_conv_forward(
        t["x"], t["weight"], t["offset"], out, columns, ones, *_geometry_args_v1(case), im2col_step
    )
    return out


def _standin_modulated_forward(case, t, with_bias):
    out = torch.full(t["out_shape"], float("nan"), dtype=t["x"].dtype, device=t["x"].device)
    bias = t["bias"] if with_bias else t["x"].new_empty(1)  # Detectron2 passes a fake bias
    ones, columns = t["x"].new_empty(0), t["x"].new_empty(0)
    _ext().modulated_deform_conv_forward(
        t["x"],
        t["weight"],
        bias,
        ones,
        t["offset"],
        t["mask"],
        out,
        columns,
        *_geometry_args_v2(case),
        with_bias,
    )
    return out


# --------------------------------------------------------------------------------------------
# The reference itself
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("modulated", [False, True])
@pytest.mark.parametrize("name", ["g2_dg2_s2_p1_d2_k3x2", "asymmetric_k2x3"])
def test_reference_matches_scalar_loop_definition(name, modulated):
    case = CASES[name]
    t = make_inputs(case, seed=1)
    t["x"], t["offset"], t["mask"] = t["x"][:1], t["offset"][:1], t["mask"][:1]
    expected = naive_deform_conv(
        t["x"],
        t["offset"],
        t["weight"],
        t["mask"] if modulated else None,
        t["bias"] if modulated else None,
        case["stride"],
        case["padding"],
        case["dilation"],
        case["groups"],
        case["dg"],
    )
    close(ref(case, t, modulated, with_bias=modulated), expected)


@pytest.mark.parametrize("name", list(CASES))
def test_reference_with_zero_offsets_is_plain_convolution(name):
    case = CASES[name]
    t = make_inputs(case)
    t["offset"] = torch.zeros_like(t["offset"])
    t["mask"] = torch.ones_like(t["mask"])
    expected = F.conv2d(
        t["x"],
        t["weight"],
        t["bias"],
        stride=case["stride"],
        padding=case["padding"],
        dilation=case["dilation"],
        groups=case["groups"],
    )
    close(ref(case, t, modulated=True, with_bias=True), expected)


# --------------------------------------------------------------------------------------------
# 1. Forward ops of the stand-in
# --------------------------------------------------------------------------------------------
@requires_standin
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(CASES))
def test_deform_conv_forward_matches_reference(name, dtype):
    case = CASES[name]
    t = make_inputs(case, dtype=dtype)
    # The offsets must actually send some sampling points outside the image.
    ys, xs = sampling_positions(
        t["offset"], case["kernel"], case["stride"], case["padding"], case["dilation"], case["dg"]
    )
    assert ((ys <= -1) | (ys >= case["h"]) | (xs <= -1) | (xs >= case["w"])).any()
    assert ((ys > 0) & (ys < case["h"] - 1) & (xs > 0) & (xs < case["w"] - 1)).any()
    out = _standin_deform_conv_forward(case, t)
    assert out.dtype == dtype
    close(out, ref(case, t, modulated=False), dtype)


@requires_standin
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(CASES))
def test_modulated_deform_conv_forward_matches_reference(name, dtype, with_bias):
    case = CASES[name]
    t = make_inputs(case, dtype=dtype)
    out = _standin_modulated_forward(case, t, with_bias)
    assert out.dtype == dtype
    close(out, ref(case, t, modulated=True, with_bias=with_bias), dtype)


@requires_standin
@pytest.mark.parametrize("modulated", [False, True])
def test_sampling_entirely_outside_the_image_gives_zero_or_bias(modulated):
    case = CASES["g2_dg2_s2_p1_d2_k3x2"]
    t = make_inputs(case)
    t["offset"] = t["offset"].sign() * 100 + t["offset"]  # every sampling point far outside
    if modulated:
        out = _standin_modulated_forward(case, t, with_bias=True)
        expected = t["bias"][None, :, None, None].expand(t["out_shape"])
    else:
        out = _standin_deform_conv_forward(case, t)
        expected = torch.zeros(t["out_shape"], dtype=torch.float64)
    close(out, expected)
    close(out, ref(case, t, modulated=modulated, with_bias=modulated))


# --------------------------------------------------------------------------------------------
# 2. Backward ops of the stand-in, against autograd through the reference (double precision)
# --------------------------------------------------------------------------------------------
def _reference_grads(case, t, grad_out, modulated, with_bias):
    leaves = {
        name: t[name].detach().clone().requires_grad_(True)
        for name in ("x", "offset", "weight", "mask", "bias")
    }
    out = ref(case, {**t, **leaves}, modulated, with_bias)
    wrt = ["x", "offset", "weight"]
    wrt += (["mask"] if modulated else []) + (["bias"] if with_bias else [])
    grads = torch.autograd.grad(out, [leaves[n] for n in wrt], grad_out)
    return dict(zip(wrt, grads))


@requires_standin
@pytest.mark.parametrize("name", list(CASES))
def test_deform_conv_backward_input_matches_autograd(name):
    case = CASES[name]
    t = make_inputs(case)
    grad_out = torch.randn(t["out_shape"], dtype=torch.float64)
    expected = _reference_grads(case, t, grad_out, modulated=False, with_bias=False)

    # As Detectron2's _DeformConv.backward calls it: zero-initialised outputs.
    grad_input, grad_offset = torch.zeros_like(t["x"]), torch.zeros_like(t["offset"])
    _ext().deform_conv_backward_input(
        t["x"],
        t["offset"],
        grad_out,
        grad_input,
        grad_offset,
        t["weight"],
        t["x"].new_empty(0),
        *_geometry_args_v1(case),
        t["x"].shape[0],
    )
    close(grad_input, expected["x"])
    close(grad_offset, expected["offset"])

    # The compiled op adds into gradInput (col2im accumulates) and assigns gradOffset.
    init_input, init_offset = torch.randn_like(t["x"]), torch.randn_like(t["offset"])
    grad_input, grad_offset = init_input.clone(), init_offset.clone()
    _ext().deform_conv_backward_input(
        t["x"],
        t["offset"],
        grad_out,
        grad_input,
        grad_offset,
        t["weight"],
        t["x"].new_empty(0),
        *_geometry_args_v1(case),
        t["x"].shape[0],
    )
    close(grad_input, init_input + expected["x"])
    close(grad_offset, expected["offset"])


@requires_standin
@pytest.mark.parametrize("scale", [1.0, 0.25])
@pytest.mark.parametrize("name", list(CASES))
def test_deform_conv_backward_filter_accumulates_scaled_gradient(name, scale):
    case = CASES[name]
    t = make_inputs(case)
    grad_out = torch.randn(t["out_shape"], dtype=torch.float64)
    expected = _reference_grads(case, t, grad_out, modulated=False, with_bias=False)
    initial = torch.randn_like(t["weight"])
    grad_weight = initial.clone()
    _ext().deform_conv_backward_filter(
        t["x"],
        t["offset"],
        grad_out,
        grad_weight,
        t["x"].new_empty(0),
        t["x"].new_empty(0),
        *_geometry_args_v1(case),
        scale,
        t["x"].shape[0],
    )
    close(grad_weight, initial + scale * expected["weight"])


@requires_standin
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("name", list(CASES))
def test_modulated_deform_conv_backward_matches_autograd(name, with_bias):
    case = CASES[name]
    t = make_inputs(case)
    grad_out = torch.randn(t["out_shape"], dtype=torch.float64)
    expected = _reference_grads(case, t, grad_out, modulated=True, with_bias=with_bias)
    bias = t["bias"] if with_bias else t["x"].new_empty(1)  # Detectron2 passes a fake bias

    def run(grads):
        _ext().modulated_deform_conv_backward(
            t["x"],
            t["weight"],
            bias,
            t["x"].new_empty(0),
            t["offset"],
            t["mask"],
            t["x"].new_empty(0),
            grads["x"],
            grads["weight"],
            grads["bias"],
            grads["offset"],
            grads["mask"],
            grad_out,
            *_geometry_args_v2(case),
            with_bias,
        )
        return grads

    # As Detectron2's _ModulatedDeformConv.backward calls it: zero-initialised outputs.
    zeros = dict(
        x=torch.zeros_like(t["x"]),
        weight=torch.zeros_like(t["weight"]),
        bias=torch.zeros_like(bias),
        offset=torch.zeros_like(t["offset"]),
        mask=torch.zeros_like(t["mask"]),
    )
    grads = run(zeros)
    for key in ("x", "offset", "weight", "mask"):
        close(grads[key], expected[key])
    if with_bias:
        close(grads["bias"], expected["bias"])
        close(grads["bias"], grad_out.sum(dim=(0, 2, 3)))
    else:
        assert torch.equal(grads["bias"], torch.zeros_like(bias))  # left alone

    # The compiled op adds into grad_input, grad_weight and grad_bias, and assigns grad_offset
    # and grad_mask.
    initial = {key: torch.randn_like(v) for key, v in zeros.items()}
    grads = run({key: v.clone() for key, v in initial.items()})
    for key in ("x", "weight") + (("bias",) if with_bias else ()):
        close(grads[key], initial[key] + expected[key])
    for key in ("offset", "mask"):
        close(grads[key], expected[key])
    if not with_bias:
        assert torch.equal(grads["bias"], initial["bias"])


# --------------------------------------------------------------------------------------------
# 3. Through Detectron2's own layers and autograd Functions
# --------------------------------------------------------------------------------------------
def test_detectron2_deform_conv_module_on_cpu_forward_only():
    from detectron2.layers import DeformConv

    case = CASES["g2_dg2_s2_p1_d2_k3x2"]
    layer = DeformConv(
        4,
        6,
        kernel_size=(3, 2),
        stride=2,
        padding=1,
        dilation=2,
        groups=2,
        deformable_groups=1,
        bias=False,
    ).double()
    t = make_inputs({**case, "dg": 1})
    with torch.no_grad():
        layer.weight.copy_(t["weight"])
    x = t["x"].clone().requires_grad_(True)
    out = layer(x, t["offset"])
    close(out.detach(), ref({**case, "dg": 1}, t, modulated=False))
    # Detectron2's _DeformConv.backward refuses CPU tensors by design.
    with pytest.raises(NotImplementedError, match="not supported on CPUs"):
        out.sum().backward()


def _cuda_case_inputs(case, with_bias):
    t = make_inputs(case, device="cuda")
    names = ("x", "offset", "weight", "mask", "bias")
    leaves = {k: t[k].clone().requires_grad_(True) for k in names}
    if not with_bias:
        leaves["bias"] = None
    return t, leaves


@requires_cuda
@requires_standin
@pytest.mark.parametrize("name", list(CASES))
def test_detectron2_DeformConv_function_on_cuda_matches_reference(name):
    from detectron2.layers.deform_conv import _DeformConv

    case = CASES[name]
    t, leaves = _cuda_case_inputs(case, with_bias=False)
    out = _DeformConv.apply(
        leaves["x"],
        leaves["offset"],
        leaves["weight"],
        case["stride"],
        case["padding"],
        case["dilation"],
        case["groups"],
        case["dg"],
        64,
    )
    close(out.detach(), ref(case, t, modulated=False))
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    expected = _reference_grads(case, t, grad_out, modulated=False, with_bias=False)
    for key in ("x", "offset", "weight"):
        close(leaves[key].grad, expected[key])


@requires_cuda
@requires_standin
@pytest.mark.parametrize("with_bias", [False, True])
def test_detectron2_ModulatedDeformConv_function_on_cuda_matches_reference(with_bias):
    from detectron2.layers.deform_conv import _ModulatedDeformConv

    # This Function takes a single int for stride, padding and dilation.
    case = CASES["g2_dg2_s2_p1_d2_k3x2"]  # stride 2, padding 1, dilation 2 in both directions
    t, leaves = _cuda_case_inputs(case, with_bias)
    out = _ModulatedDeformConv.apply(
        leaves["x"],
        leaves["offset"],
        leaves["mask"],
        leaves["weight"],
        leaves["bias"],
        2,
        1,
        2,
        case["groups"],
        case["dg"],
    )
    close(out.detach(), ref(case, t, modulated=True, with_bias=with_bias))
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    expected = _reference_grads(case, t, grad_out, modulated=True, with_bias=with_bias)
    for key in ("x", "offset", "weight", "mask") + (("bias",) if with_bias else ()):
        close(leaves[key].grad, expected[key])


# --------------------------------------------------------------------------------------------
# 4. Rotated ops raise a clear error
# --------------------------------------------------------------------------------------------
def _rotated_boxes(n):
    return torch.tensor([[10.0 + i, 12.0, 6.0, 4.0, 30.0 * i] for i in range(n)])


def _call_box_iou_rotated():
    _ext().box_iou_rotated(_rotated_boxes(3), _rotated_boxes(2))


def _call_nms_rotated():
    from detectron2.layers import nms_rotated

    nms_rotated(_rotated_boxes(4), torch.rand(4), 0.5)


def _call_pairwise_iou_rotated():
    from detectron2.structures import RotatedBoxes, pairwise_iou_rotated

    pairwise_iou_rotated(RotatedBoxes(_rotated_boxes(3)), RotatedBoxes(_rotated_boxes(2)))


def _call_roi_align_rotated():
    from detectron2.layers import ROIAlignRotated

    rois = torch.tensor([[0.0, 8.0, 8.0, 6.0, 4.0, 15.0]])
    ROIAlignRotated((2, 2), 1.0, 0)(torch.rand(1, 3, 16, 16), rois)


@requires_standin
@pytest.mark.parametrize(
    "call, op_name",
    [
        pytest.param(_call_box_iou_rotated, "box_iou_rotated", id="_C.box_iou_rotated"),
        pytest.param(_call_nms_rotated, "nms_rotated", id="layers.nms_rotated"),
        pytest.param(
            _call_pairwise_iou_rotated, "box_iou_rotated", id="structures.pairwise_iou_rotated"
        ),
        pytest.param(_call_roi_align_rotated, "roi_align_rotated", id="layers.ROIAlignRotated"),
    ],
)
def test_rotated_ops_raise_clear_error(call, op_name):
    with pytest.raises(NotImplementedError) as info:
        call()
    message = str(info.value)
    assert op_name in message
    assert BUILD_FROM_SOURCE.search(message), message


@requires_standin
def test_torch_op_nms_rotated_is_defined_and_raises():
    with pytest.raises(NotImplementedError, match="nms_rotated"):
        torch.ops.detectron2.nms_rotated(_rotated_boxes(2), torch.rand(2), 0.5)


# --------------------------------------------------------------------------------------------
# 5-7. Import hook: fresh interpreters, never shadowing a real _C, idempotence
# --------------------------------------------------------------------------------------------
def _clean_env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONSTARTUP", None)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def run_python(code, *flags, cwd=None, timeout=180):
    return subprocess.run(
        [sys.executable, *flags, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _assert_ok(proc):
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )


_REPORT = """
import sys
ext = sys.modules.get("detectron2._C")
print("EXT_FILE=" + str(getattr(ext, "__file__", None)))
"""

# Without site (-I -S): neither the .pth start-up hook nor the editable install's finder runs;
# sys.path gets site-packages (for Detectron2, torch, ...) and the directory holding `anchorfree`.
_NO_SITE_PRELUDE = f"""
import sys
sys.path[:0] = [{SITE_PACKAGES!r}, {PROJECTS_DIR!r}]
assert "anchorfree" not in sys.modules
assert not any(type(f).__name__ == "Detectron2ExtensionStandInFinder" for f in sys.meta_path)
"""

FRESH_IMPORTS = {
    "import detectron2.layers": "",
    "from detectron2.engine import DefaultPredictor, DefaultTrainer": "",
    "from detectron2.evaluation import COCOEvaluator": "",
    "import detectron2.layers; import anchorfree": "",
    "import anchorfree; import detectron2.layers": "",
    "no_site: import anchorfree; import detectron2.layers": _NO_SITE_PRELUDE,
}


@pytest.fixture(scope="module")
def fresh_interpreter_runs(tmp_path_factory):
    """Each FRESH_IMPORTS statement as the first statement of a new interpreter (in parallel)."""
    cwd = tmp_path_factory.mktemp("fresh")

    def launch(key):
        prelude = FRESH_IMPORTS[key]
        statement = key.split(": ", 1)[-1]
        flags = ("-I", "-S") if prelude else ()
        return run_python(prelude + statement + "\n" + _REPORT, *flags, cwd=cwd)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip(FRESH_IMPORTS, pool.map(launch, FRESH_IMPORTS)))


@pytest.mark.parametrize("key", list(FRESH_IMPORTS))
def test_fresh_interpreter_import_order(fresh_interpreter_runs, key):
    """In any import order: the compiled extension where there is one, else the stand-in."""
    proc = fresh_interpreter_runs[key]
    _assert_ok(proc)
    assert f"EXT_FILE={EXPECTED_EXT_FILE}" in proc.stdout.splitlines(), proc.stdout


def test_startup_hook_installs_finder_before_any_import(tmp_path):
    proc = run_python(
        """
        import sys
        names = [type(f).__name__ for f in sys.meta_path]
        print(names.count("Detectron2ExtensionStandInFinder"), names[-1],
              "detectron2" in sys.modules)
        """,
        cwd=tmp_path,
    )
    _assert_ok(proc)
    assert proc.stdout.split() == ["1", "Detectron2ExtensionStandInFinder", "False"]


@requires_standin
def test_without_site_and_without_anchorfree_detectron2_layers_fails(tmp_path):
    """Control for the no-site case: the import hook, not something else, provides the module."""
    proc = run_python(_NO_SITE_PRELUDE + "import detectron2.layers\n", "-I", "-S", cwd=tmp_path)
    assert proc.returncode != 0
    assert "_C" in proc.stderr and "ImportError" in proc.stderr, proc.stderr


_FAKE_PACKAGE_CHECK = """
import sys
sys.path.insert(0, {root!r})
import anchorfree
from anchorfree.compat.import_hook import Detectron2ExtensionStandInFinder, is_standin_active
assert any(isinstance(f, Detectron2ExtensionStandInFinder) for f in sys.meta_path)
import detectron2
assert detectron2.__file__.startswith({root!r}), detectron2.__file__
import detectron2._C as ext
print("MARKER=" + str(getattr(ext, "MARKER", None)))
print("FILE=" + ext.__file__)
print("STANDIN=" + str(is_standin_active()))
"""


def _fake_detectron2(root, with_ext):
    pkg = root / "detectron2"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""Minimal stand-in for an installed Detectron2."""\n')
    if with_ext:
        (pkg / "_C.py").write_text('MARKER = "real-compiled-extension"\n')
    return pkg


def test_never_shadows_an_existing_detectron2_C(tmp_path):
    pkg = _fake_detectron2(tmp_path, with_ext=True)
    proc = run_python(_FAKE_PACKAGE_CHECK.format(root=str(tmp_path)), cwd=tmp_path)
    _assert_ok(proc)
    lines = proc.stdout.splitlines()
    assert "MARKER=real-compiled-extension" in lines
    assert f"FILE={pkg / '_C.py'}" in lines
    assert "STANDIN=False" in lines


def test_provides_detectron2_C_when_package_has_none(tmp_path):
    """Control for the test above: same fake package without _C gets the stand-in."""
    _fake_detectron2(tmp_path, with_ext=False)
    proc = run_python(_FAKE_PACKAGE_CHECK.format(root=str(tmp_path)), cwd=tmp_path)
    _assert_ok(proc)
    lines = proc.stdout.splitlines()
    assert "MARKER=None" in lines and f"FILE={STANDIN_PATH}" in lines and "STANDIN=True" in lines


def test_this_environment_uses_its_compiled_extension_else_the_standin():
    ext = _ext()
    assert ext.__file__ == EXPECTED_EXT_FILE
    assert is_standin_active() == (COMPILED_EXT_FILE is None)
    assert getattr(ext, "IS_ANCHORFREE_STANDIN", False) == (COMPILED_EXT_FILE is None)


def test_finder_only_answers_for_detectron2_C():
    finder = Detectron2ExtensionStandInFinder()
    assert finder.find_spec("detectron2", None) is None
    assert finder.find_spec("detectron2._C_other", None) is None
    assert finder.find_spec("other._C", None) is None
    spec = finder.find_spec("detectron2._C", None)
    assert spec.name == "detectron2._C" and spec.origin == STANDIN_PATH


def _count_finders():
    return sum(isinstance(f, Detectron2ExtensionStandInFinder) for f in sys.meta_path)


def test_install_is_idempotent():
    assert _count_finders() == 1
    for _ in range(3):
        install_detectron2_ext_standin()
        import_hook.install_detectron2_ext_standin()
    assert _count_finders() == 1


def test_install_is_idempotent_without_startup_hook(tmp_path):
    proc = run_python(
        _NO_SITE_PRELUDE
        + """
import anchorfree
from anchorfree.compat.import_hook import install_detectron2_ext_standin
for _ in range(3):
    install_detectron2_ext_standin()
import anchorfree.compat.import_hook
print(sum(type(f).__name__ == "Detectron2ExtensionStandInFinder" for f in sys.meta_path))
""",
        "-I",
        "-S",
        cwd=tmp_path,
    )
    _assert_ok(proc)
    assert proc.stdout.split() == ["1"]


@requires_standin
def test_standin_can_be_executed_again(tmp_path):
    """Reloading the stand-in, or re-importing it after Detectron2's modules were dropped from
    sys.modules, must not fail on re-registering ``torch.ops.detectron2.nms_rotated``."""
    proc = run_python(
        """
        import gc, importlib, sys, torch
        import detectron2.layers
        from detectron2 import _C
        importlib.reload(_C)
        for name in [m for m in sys.modules if m == "detectron2" or m.startswith("detectron2.")]:
            del sys.modules[name]
        del _C
        gc.collect()
        import detectron2.layers
        from detectron2 import _C
        gc.collect()
        try:
            detectron2.layers.nms_rotated(torch.rand(2, 5), torch.rand(2), 0.5)
        except NotImplementedError as e:
            print("RAISED", "nms_rotated" in str(e))
        print("EXT_FILE=" + _C.__file__)
        """,
        cwd=tmp_path,
    )
    _assert_ok(proc)
    assert proc.stdout.splitlines() == ["RAISED True", f"EXT_FILE={STANDIN_PATH}"]
