"""
Slow, obvious implementations of the compiled operators of the original code, written from
their CUDA/C++ sources' semantics: they stand in for the extensions when the original networks
are built here for parity, and the tests check this project's fast operators against them.
"""

import sys
import types
from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = [
    "bilinear_sample_zero_padded",
    "corner_pool_reference",
    "ml_nms_plus_one_reference",
    "modulated_deform_conv2d_reference",
    "stub_module",
]


def bilinear_sample_zero_padded(image: Tensor, y: Tensor, x: Tensor) -> Tensor:
    """
    ``image`` ``[C, H, W]`` sampled at real positions ``y``, ``x`` (any equal shapes S, pixel
    units, pixel centres at integers) -> ``[C, *S]``, as DCNv2's ``dmcn_im2col_bilinear``: a
    position with ``y <= -1``, ``y >= H``, ``x <= -1`` or ``x >= W`` gives 0; otherwise each
    of the four neighbours contributes its bilinear weight, neighbours outside the image
    contributing 0.
    """
    _, height, width = image.shape
    inside = (y > -1) & (y < height) & (x > -1) & (x < width)
    y0, x0 = torch.floor(y), torch.floor(x)
    out = image.new_zeros((image.shape[0],) + tuple(y.shape))
    for dy in (0, 1):
        for dx in (0, 1):
            yy, xx = y0 + dy, x0 + dx
            weight = (1 - (y - yy).abs()) * (1 - (x - xx).abs())
            valid = inside & (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
            yi = yy.clamp(0, height - 1).long()
            xi = xx.clamp(0, width - 1).long()
            out += image[:, yi, xi] * (weight * valid)
    return out


def modulated_deform_conv2d_reference(
    x: Tensor,
    offset: Tensor,
    mask: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],
    stride: Tuple[int, int] = (1, 1),
    padding: Tuple[int, int] = (0, 0),
    dilation: Tuple[int, int] = (1, 1),
) -> Tensor:
    """
    DCNv2's ``dcn_v2_conv`` (one deformable group) by explicit sampling. ``x`` ``[N, C, H, W]``;
    ``weight`` ``[O, C, kh, kw]``; ``offset`` ``[N, 2 kh kw, Ho, Wo]`` with channel ``2k`` the
    row and ``2k + 1`` the column offset of tap ``k = i kw + j``; ``mask`` ``[N, kh kw, Ho,
    Wo]`` (already through the sigmoid). Tap ``k`` of output cell ``(p, q)`` reads ``x`` at row
    ``p sh - ph + i dh + offset[2k]`` and column ``q sw - pw + j dw + offset[2k + 1]``.
    """
    n, _, _, _ = x.shape
    out_channels, _, kh, kw = weight.shape
    ho, wo = offset.shape[-2:]
    rows = (torch.arange(ho, dtype=x.dtype) * stride[0] - padding[0])[:, None]
    cols = (torch.arange(wo, dtype=x.dtype) * stride[1] - padding[1])[None, :]
    out = x.new_zeros(n, out_channels, ho, wo)
    for b in range(n):
        for i in range(kh):
            for j in range(kw):
                k = i * kw + j
                y = rows + i * dilation[0] + offset[b, 2 * k]
                xx = cols + j * dilation[1] + offset[b, 2 * k + 1]
                sampled = bilinear_sample_zero_padded(x[b], y, xx) * mask[b, k]
                out[b] += torch.einsum("oc,chw->ohw", weight[:, :, i, j], sampled)
    if bias is not None:
        out += bias[None, :, None, None]
    return out


# CornerNet's pools (models/py_utils/_cpools/src/*_pool.cpp): the NCHW dimension each scans and
# whether it starts from the last row / column.
CORNER_POOL_SCANS = {
    "top": (2, True),
    "bottom": (2, False),
    "left": (3, True),
    "right": (3, False),
}


def corner_pool_reference(x: Tensor, direction: str) -> Tensor:
    """
    CornerNet's ``{top,bottom,left,right}_pool.forward`` as its C++ loop: the first row (or
    column) of the scan is copied, then each next one is the elementwise max of the input there
    and the output just before it. ``top_pool`` starts from the last row (out[i] = max of rows
    i..H-1), ``bottom_pool`` from row 0 (rows 0..i), ``left_pool`` from the last column
    (columns j..W-1), ``right_pool`` from column 0 (columns 0..j). ``x``: ``[N, C, H, W]``.
    """
    dim, from_last = CORNER_POOL_SCANS[direction]
    length = x.shape[dim]
    order = range(length - 1, -1, -1) if from_last else range(length)
    out = torch.zeros_like(x)
    previous = None
    for index in order:
        current = x.select(dim, index)
        out.select(dim, index).copy_(current if previous is None else torch.max(current, previous))
        previous = out.select(dim, index)
    return out


def ml_nms_plus_one_reference(
    boxes: Tensor, scores: Tensor, labels: Tensor, threshold: float
) -> Tensor:
    """
    maskrcnn-benchmark's ``_C.ml_nms`` (``csrc/cuda/ml_nms.cu``): greedy NMS within each label,
    boxes taken by decreasing score; a box is suppressed by a kept one of its label when
    ``inter / (area_a + area_b - inter) > threshold`` with integer-pixel sizes (``width =
    max(min(x1) - max(x0) + 1, 0)``, ``area = (x1 - x0 + 1) * (y1 - y0 + 1)``). Returns the
    indices kept, in increasing order (the kernel sorts them back).
    """
    order = scores.sort(descending=True).indices
    x0, y0, x1, y1 = boxes.float()[order].unbind(dim=1)
    labels = labels[order]
    areas = (x1 - x0 + 1) * (y1 - y0 + 1)
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep = []
    for rank in range(len(order)):
        if suppressed[rank]:
            continue
        keep.append(int(order[rank]))
        rest = slice(rank + 1, None)
        width = (torch.min(x1[rank], x1[rest]) - torch.max(x0[rank], x0[rest]) + 1).clamp(min=0)
        height = (torch.min(y1[rank], y1[rest]) - torch.max(y0[rank], y0[rest]) + 1).clamp(min=0)
        inter = width * height
        overlap = inter / (areas[rank] + areas[rest] - inter)
        suppressed[rest] |= (overlap > threshold) & (labels[rest] == labels[rank])
    return torch.tensor(sorted(keep), dtype=torch.long)


def stub_module(name: str, **attributes) -> types.ModuleType:
    """Register (in ``sys.modules``) a module ``name`` holding ``attributes``: the stand-in for
    an original's compiled extension, so that its Python sources import unchanged."""
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    return module
