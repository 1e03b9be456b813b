"""
Corner pooling (CornerNet, Law & Deng, ECCV 2018, Sec. 3.4) and the corner-pooling module.

Naming convention (the paper's, and easy to misread). Each pool is named after the corner
side it serves, not after where it looks: the top-left corner of a box has no object pixels
above or to the left of it, so its pools look *down* and *right*, into the object.

===============  ======================  ======================================  ============
function         output at row i, col j  looks                                   corner
===============  ======================  ======================================  ============
``top_pool``     max of rows i..H-1      at and below (toward the box bottom)    top-left
``left_pool``    max of cols j..W-1      at and to the right                     top-left
``bottom_pool``  max of rows 0..i        at and above (toward the box top)       bottom-right
``right_pool``   max of cols 0..j        at and to the left                      bottom-right
===============  ======================  ======================================  ============

All four are a cumulative maximum along one axis, O(H*W) per channel, instead of the O(W^2)
loop that takes a fresh maximum over the whole window at every position.

Gradient: each output element passes its gradient to the single input element it took its
value from (its arg-max), exactly like ``torch.max`` over the window. Ties go to the tied
element *nearest to the output position*; that is what ``torch.cummax`` does (it returns the
last index of equal maxima in scan order), and it is the "first maximal index" rule of
``torch.max`` applied to the window ordered outward from the output position.
"""

from typing import Callable, Tuple, Union

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable
from torch.nn import functional as F

from anchorfree.modeling.layers import conv_norm

__all__ = [
    "CornerPooling",
    "bottom_pool",
    "left_pool",
    "right_pool",
    "top_pool",
]

_ROWS, _COLS = 2, 3  # the H and W dimensions of [N, C, H, W]


def top_pool(x: Tensor) -> Tensor:
    """``[N, C, H, W]`` -> same shape; at (i, j) the max of ``x[..., i:, j]`` (rows at and
    below). Half of the top-left corner pooling."""
    return _scan_max(x, _ROWS, reverse=True)


def left_pool(x: Tensor) -> Tensor:
    """``[N, C, H, W]`` -> same shape; at (i, j) the max of ``x[..., i, j:]`` (columns at and
    to the right). Half of the top-left corner pooling."""
    return _scan_max(x, _COLS, reverse=True)


def bottom_pool(x: Tensor) -> Tensor:
    """``[N, C, H, W]`` -> same shape; at (i, j) the max of ``x[..., :i + 1, j]`` (rows at and
    above). Half of the bottom-right corner pooling."""
    return _scan_max(x, _ROWS, reverse=False)


def right_pool(x: Tensor) -> Tensor:
    """``[N, C, H, W]`` -> same shape; at (i, j) the max of ``x[..., i, :j + 1]`` (columns at
    and to the left). Half of the bottom-right corner pooling."""
    return _scan_max(x, _COLS, reverse=False)


def _scan_max(x: Tensor, dim: int, reverse: bool) -> Tensor:
    """
    Cumulative max of ``x`` along ``dim``, from the last position backward when ``reverse``.

    On CPU along an outer dimension (the rows of NCHW), :class:`_SliceScanMax`: torch's CPU
    ``cummax`` walks every column separately with stride W, and the row pool measures faster as
    the slice loop (``tools/benchmark.py --suite corner-pooling``; figures in the CornerNet
    README). Along the innermost dimension a slice loop's slices are strided, and it measures
    slower than cummax. On CUDA,
    ``torch.cummax`` is one parallel scan kernel, where the slice loop would launch a few
    kernels per position. In a graph: for ONNX export (which has no cumulative max),
    :func:`_graph_scan_max`; for TorchScript tracing, cummax (a traced slice loop would
    fix the length).
    """
    if torch.compiler.is_exporting():
        return _graph_scan_max(x, dim, reverse)
    if x.device.type == "cpu" and x.stride(dim) != 1 and not torch.jit.is_tracing():
        return _SliceScanMax.apply(x, dim, reverse)
    return _cummax_scan_max(x, dim, reverse)


# The longest axis _graph_scan_max scans correctly: 2048 cells, 8192 pixels at stride 4.
MAX_GRAPH_SCAN_LENGTH = 2048
# Block length of _graph_scan_max (a power of two).
GRAPH_SCAN_BLOCK = 16


def _doubling_steps(x: Tensor, dim: int, max_length: int) -> Tensor:
    """Inclusive forward scan max along ``dim`` for lengths up to ``max_length``: after the
    step with shift ``s`` each position holds the max of the ``2s`` positions ending at it
    (Hillis-Steele), shifts beyond the length bringing in only ``-inf`` padding."""
    length = x.shape[dim]
    # F.pad counts dimensions from the last: (left, right) of the last, then of the one before.
    before_last = [0, 0] * (x.dim() - 1 - dim)
    shift = 1
    while shift < max_length:
        shifted = F.pad(x, before_last + [shift, 0], value=float("-inf")).narrow(dim, 0, length)
        x = torch.maximum(x, shifted)
        shift *= 2
    return x


def _graph_scan_max(x: Tensor, dim: int, reverse: bool) -> Tensor:
    """
    :func:`_scan_max` in a fixed number of whole-tensor steps, for graphs whose axis lengths
    are inputs (ONNX has no cumulative max): the axis is cut into blocks of
    ``GRAPH_SCAN_BLOCK``, each block is scanned by doubling steps (4), the block maxima are
    scanned the same way over the blocks (cheap: a block-th of the data), and each block takes
    the max of its own scan and of the blocks before it. The same values as cummax (a max is
    exact), for axes up to ``MAX_GRAPH_SCAN_LENGTH``; about a third of the work of doubling
    steps over the whole axis.
    """
    if reverse:
        x = x.flip(dim)
    length = x.shape[dim]
    block = GRAPH_SCAN_BLOCK
    num_blocks = (length + block - 1) // block
    before_last = [0, 0] * (x.dim() - 1 - dim)
    padded = F.pad(x, before_last + [0, num_blocks * block - length], value=float("-inf"))
    shape = list(padded.shape)
    blocks = padded.reshape(shape[:dim] + [num_blocks, block] + shape[dim + 1 :])
    within = _doubling_steps(blocks, dim + 1, block)
    totals = within.narrow(dim + 1, block - 1, 1)  # each block's max
    before = _doubling_steps(totals, dim, MAX_GRAPH_SCAN_LENGTH // block)
    # The max of the blocks strictly before each block: shifted by one block.
    before = F.pad(before, [0, 0] * (x.dim() - dim) + [1, 0], value=float("-inf"))
    before = before.narrow(dim, 0, num_blocks)
    scanned = torch.maximum(within, before).reshape(shape).narrow(dim, 0, length)
    return scanned.flip(dim) if reverse else scanned


def _cummax_scan_max(x: Tensor, dim: int, reverse: bool) -> Tensor:
    """:func:`_scan_max` with ``torch.cummax``; reversed by flipping, as cummax only scans
    forward. Autograd's cummax backward gives the nearest-tie arg-max gradient."""
    if reverse:
        return torch.cummax(x.flip(dim), dim).values.flip(dim)
    return torch.cummax(x, dim).values


class _SliceScanMax(torch.autograd.Function):
    """
    :func:`_scan_max` as a loop over the slices along ``dim``, each step one vectorized
    ``maximum`` of a whole slice with the running max (``L`` steps for length ``L``).

    Backward saves a boolean mask instead of cummax's int64 indices: the output at position k
    takes its value from the nearest position r at or beyond k (in the pooling direction) where
    ``out[r] == x[r]``; so walking the positions against the scan direction, gradients are
    carried along until such a position absorbs them.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, dim: int, reverse: bool) -> Tensor:
        out = torch.empty_like(x)
        src, dst = x.unbind(dim), out.unbind(dim)
        order = _scan_order(x.shape[dim], reverse)
        dst[order[0]].copy_(src[order[0]])
        for prev, pos in zip(order[:-1], order[1:]):
            torch.maximum(src[pos], dst[prev], out=dst[pos])
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(out == x)
        ctx.dim, ctx.reverse = dim, reverse
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> Tuple[Tensor, None, None]:
        (is_source,) = ctx.saved_tensors
        dim = ctx.dim
        grad_in = torch.empty_like(grad_out)
        grad_slices, source_slices = grad_out.unbind(dim), is_source.unbind(dim)
        grad_in_slices = grad_in.unbind(dim)
        zero = grad_out.new_zeros(())
        carry = torch.zeros_like(grad_slices[0])
        for pos in reversed(_scan_order(grad_out.shape[dim], ctx.reverse)):
            total = carry + grad_slices[pos]
            torch.where(source_slices[pos], total, zero, out=grad_in_slices[pos])
            carry = total.masked_fill_(source_slices[pos], 0)
        return grad_in, None, None


def _scan_order(length: int, reverse: bool) -> range:
    return range(length - 1, -1, -1) if reverse else range(length)


_POOLS = {
    "top_left": (top_pool, left_pool),
    "bottom_right": (bottom_pool, right_pool),
}


class CornerPooling(nn.Module):
    """
    The corner-pooling module of CornerNet (Fig. 7 of the paper), for one corner type:

    - two branches of 3x3 conv-norm-ReLU (``channels -> pool_channels``), pooled in the
      corner's two directions (``top_pool`` / ``left_pool`` for "top_left", ``bottom_pool`` /
      ``right_pool`` for "bottom_right") and summed;
    - 3x3 conv-norm (``pool_channels -> channels``), plus a 1x1 conv-norm shortcut of the input
      (a residual block whose first conv is replaced by the pooling), then ReLU;
    - 3x3 conv-norm-ReLU (``channels -> channels``).

    Convolutions have no bias when followed by a norm. Weights keep PyTorch's default
    initialization, as in the paper's training from scratch.
    """

    def __init__(
        self,
        channels: int,
        corner: str,
        pool_channels: int = 128,
        norm: Union[str, Callable[[int], nn.Module]] = "BN",
    ):
        """
        Args:
            channels: input and output channels (the backbone's, 256 for Hourglass-104).
            corner: "top_left" or "bottom_right".
            pool_channels: channels of the two pooled branches (128 in the paper).
            norm: ``get_norm`` name ("BN", "SyncBN", "GN", ...; "" for none) or a callable of
                the channel count.
        """
        super().__init__()
        if corner not in _POOLS:
            raise ValueError(f"corner must be one of {sorted(_POOLS)}, got {corner!r}")
        self.corner = corner
        self.pool_a, self.pool_b = _POOLS[corner]
        self.branch_a = conv_norm(channels, pool_channels, 3, norm, relu=True)
        self.branch_b = conv_norm(channels, pool_channels, 3, norm, relu=True)
        self.merge = conv_norm(pool_channels, channels, 3, norm, relu=False)
        self.shortcut = conv_norm(channels, channels, 1, norm, relu=False)
        self.out = conv_norm(channels, channels, 3, norm, relu=True)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``[N, channels, H, W]`` -> ``[N, channels, H, W]``."""
        pooled = self.pool_a(self.branch_a(x)) + self.pool_b(self.branch_b(x))
        return self.out(F.relu(self.merge(pooled) + self.shortcut(x)))

    def extra_repr(self) -> str:
        return f"corner={self.corner!r}"
