"""
Pure-PyTorch stand-in for Detectron2's compiled extension ``detectron2._C``.

This file is loaded *as* ``detectron2._C`` by :mod:`anchorfree.compat.import_hook`, and only when
no compiled extension is importable (registry installs of Detectron2 v0.6 have none). It provides:

* deformable convolution, plain and modulated, forward and backward, with the exact signatures
  of Detectron2's C++ ops (outputs written into the tensors they are given; like the C++ ops, the
  backward ops add into the input, weight and bias gradients and overwrite the offset and mask
  gradients), computed by ``torchvision.ops.deform_conv2d`` and its autograd;
* the COCO evaluation kernels that ``detectron2.evaluation.fast_eval_api.COCOeval_opt`` calls
  (:mod:`anchorfree.compat.cocoeval_kernels`, NumPy);
* rotated-box ops (``box_iou_rotated``, ``roi_align_rotated_*``,
  ``torch.ops.detectron2.nms_rotated``) that raise a clear error: no project here uses rotated
  boxes, and a silent slow fallback would hide a missing build.

Offsets use Detectron2's (and torchvision's) layout: channel ``2*k`` is the y offset and
``2*k+1`` the x offset of kernel tap ``k = i*kernel_w + j``, per deformable group.
"""

from typing import Callable, Optional, Tuple

import torch
from torchvision.ops import deform_conv2d

from anchorfree.compat.cocoeval_kernels import (  # noqa: F401 (re-exported as _C API)
    COCOevalAccumulate,
    COCOevalEvaluateImages,
    InstanceAnnotation,
)

IS_ANCHORFREE_STANDIN = True

_BUILD_HINT = (
    "It needs Detectron2's compiled extension, which this installation lacks (Detectron2 v0.6 "
    "from the package registry ships none; anchorfree-d2 provides a pure-PyTorch stand-in for "
    "the ops it needs). Build Detectron2 from its GitHub source (facebookresearch/detectron2, "
    "see its INSTALL.md) to get the compiled op."
)


def get_compiler_version() -> str:
    return "none (anchorfree-d2 pure-PyTorch stand-in for detectron2._C)"


def get_cuda_version() -> str:
    return "none (anchorfree-d2 pure-PyTorch stand-in for detectron2._C)"


def has_cuda() -> bool:
    return False


def _deform_conv_with_grads(
    input: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    mask: Optional[torch.Tensor],
    bias: Optional[torch.Tensor],
    grad_output: torch.Tensor,
    stride: Tuple[int, int],
    padding: Tuple[int, int],
    dilation: Tuple[int, int],
) -> Tuple[Optional[torch.Tensor], ...]:
    """Gradients of ``sum(deform_conv2d(...) * grad_output)`` w.r.t. every given tensor input."""
    leaves = [
        t.detach().requires_grad_(True) if t is not None else None
        for t in (input, offset, weight, mask, bias)
    ]
    with torch.enable_grad():
        out = deform_conv2d(
            leaves[0],
            leaves[1],
            leaves[2],
            bias=leaves[4],
            stride=stride,
            padding=padding,
            dilation=dilation,
            mask=leaves[3],
        )
        present = [t for t in leaves if t is not None]
        grads = iter(torch.autograd.grad(out, present, grad_output))
    return tuple(next(grads) if t is not None else None for t in leaves)


def deform_conv_forward(
    input,
    weight,
    offset,
    output,
    columns,
    ones,
    kW,
    kH,
    dW,
    dH,
    padW,
    padH,
    dilationW,
    dilationH,
    group,
    deformable_group,
    im2col_step,
) -> None:
    # Groups and deformable groups are implied by the channel counts of weight and offset.
    output.copy_(
        deform_conv2d(
            input,
            offset,
            weight,
            stride=(dH, dW),
            padding=(padH, padW),
            dilation=(dilationH, dilationW),
        )
    )


def deform_conv_backward_input(
    input,
    offset,
    gradOutput,
    gradInput,
    gradOffset,
    weight,
    columns,
    kW,
    kH,
    dW,
    dH,
    padW,
    padH,
    dilationW,
    dilationH,
    group,
    deformable_group,
    im2col_step,
) -> None:
    g_input, g_offset, *_ = _deform_conv_with_grads(
        input,
        offset,
        weight,
        None,
        None,
        gradOutput,
        (dH, dW),
        (padH, padW),
        (dilationH, dilationW),
    )
    gradInput.add_(g_input)  # the C++ op accumulates into gradInput (col2im) ...
    gradOffset.copy_(g_offset)  # ... and assigns gradOffset


def deform_conv_backward_filter(
    input,
    offset,
    gradOutput,
    gradWeight,
    columns,
    ones,
    kW,
    kH,
    dW,
    dH,
    padW,
    padH,
    dilationW,
    dilationH,
    group,
    deformable_group,
    scale,
    im2col_step,
) -> None:
    # The op is linear in the weight, so its weight gradient does not depend on the weight's
    # value (the C++ op is not given the weight either): any tensor of its shape serves.
    _, _, g_weight, _, _ = _deform_conv_with_grads(
        input,
        offset,
        torch.zeros_like(gradWeight),
        None,
        None,
        gradOutput,
        (dH, dW),
        (padH, padW),
        (dilationH, dilationW),
    )
    gradWeight.add_(g_weight, alpha=scale)


def modulated_deform_conv_forward(
    input,
    weight,
    bias,
    ones,
    offset,
    mask,
    output,
    columns,
    kernel_h,
    kernel_w,
    stride_h,
    stride_w,
    pad_h,
    pad_w,
    dilation_h,
    dilation_w,
    group,
    deformable_group,
    with_bias,
) -> None:
    output.copy_(
        deform_conv2d(
            input,
            offset,
            weight,
            bias=bias if with_bias else None,
            stride=(stride_h, stride_w),
            padding=(pad_h, pad_w),
            dilation=(dilation_h, dilation_w),
            mask=mask,
        )
    )


def modulated_deform_conv_backward(
    input,
    weight,
    bias,
    ones,
    offset,
    mask,
    columns,
    grad_input,
    grad_weight,
    grad_bias,
    grad_offset,
    grad_mask,
    grad_output,
    kernel_h,
    kernel_w,
    stride_h,
    stride_w,
    pad_h,
    pad_w,
    dilation_h,
    dilation_w,
    group,
    deformable_group,
    with_bias,
) -> None:
    g_input, g_offset, g_weight, g_mask, g_bias = _deform_conv_with_grads(
        input,
        offset,
        weight,
        mask,
        bias if with_bias else None,
        grad_output,
        (stride_h, stride_w),
        (pad_h, pad_w),
        (dilation_h, dilation_w),
    )
    # As in the C++ op: input, weight and bias gradients accumulate; offset and mask are assigned.
    grad_input.add_(g_input)
    grad_offset.copy_(g_offset)
    grad_weight.add_(g_weight)
    grad_mask.copy_(g_mask)
    if with_bias:
        grad_bias.add_(g_bias)


def _missing_compiled_op(name: str) -> Callable[..., None]:
    def missing(*args, **kwargs) -> None:
        raise NotImplementedError(f"Detectron2 op '{name}' is not available. " + _BUILD_HINT)

    missing.__name__ = name
    return missing


box_iou_rotated = _missing_compiled_op("box_iou_rotated")
roi_align_rotated_forward = _missing_compiled_op("roi_align_rotated_forward")
roi_align_rotated_backward = _missing_compiled_op("roi_align_rotated_backward")


def _register_missing_torch_ops() -> None:
    """``detectron2.layers.nms_rotated`` calls ``torch.ops.detectron2.nms_rotated`` at call time;
    define it so that the call raises the same clear error instead of torch's generic one."""
    namespace = torch.ops.detectron2
    if hasattr(namespace, "nms_rotated"):
        # Defined by an earlier execution of this file (the module was reloaded, or re-imported
        # after removal from sys.modules): defining it again would raise.
        return
    library = torch.library.Library("detectron2", "DEF")
    library.define("nms_rotated(Tensor boxes, Tensor scores, float iou_threshold) -> Tensor")
    library.impl("nms_rotated", _missing_compiled_op("nms_rotated"), "CompositeExplicitAutograd")
    # A Library removes its definitions when garbage-collected: keep it alive for the whole
    # interpreter, on the (never discarded) op namespace, not on this module, which may be dropped.
    namespace._anchorfree_standin_library = library


_register_missing_torch_ops()
