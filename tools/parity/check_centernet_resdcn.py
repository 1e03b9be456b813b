#!/usr/bin/env python
"""
Whole-network parity of the CenterNet ResNet-DCN conversion (by hand, not in CI; from the
repository root):

    python -m tools.parity.check_centernet_resdcn --original /tmp/resdcn-orig --depth 18

builds the original's ``PoseResNet`` (``src/lib/models/networks/resnet_dcn.py`` of the
xingyizhou/CenterNet checkout at ``--original``, the reference DCNv2 of
:mod:`tools.parity.reference_ops` standing in for the compiled one) with random weights (BN
running statistics and the DCNs' offset/mask convs included), saves it as the original saves
its models (``{"epoch", "state_dict"}``, ``module.`` prefixes), converts that file with
``--source centernet``, loads the result into the model of the config the converter names (as
``train.init_checkpoint`` does) and runs both on the same normalized inputs: a 512x512 image
and a 300x451 one padded (with zeros, as ``ImageList`` pads) to 320x480. It reports the head
outputs' largest differences (heatmap logits, sizes, offsets; at most ``--tolerance``) and
compares the detections of the original's ``ctdet_decode`` (sigmoid, top 100; its ``K``
default) with this project's decoding, scaled by the output stride. This project's decoding
differs from the original's by three conventions: negative predicted sizes are taken as 0 and
boxes are clipped to the unpadded image (``CenterNetPostprocessor``), and the heatmap sigmoid is
clamped to ``[prob_clamp, 1 - prob_clamp]`` as the loss sees it. The detections are compared
after applying those three to the original's, and how many detections each one changes is
reported.
Exit status 1 when a check fails.
"""

import argparse
import importlib
import math
import os
import sys
import tempfile
from typing import Dict, List, Tuple

import torch
from torch import Tensor, nn

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
from anchorfree.config import load_config
from anchorfree.conversion import (
    check_against_model,
    convert_checkpoint,
    read_checkpoint,
    save_converted,
)
from tools.parity.centernet_original import import_centernet_network

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.structures import ImageList

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADS = {"hm": 80, "wh": 2, "reg": 2}
HEAD_BIASES = {"hm": (-2.19, 0.5), "wh": (1.5, 0.5), "reg": (0.5, 0.2)}
# (image height, width) -> the padded input it runs as.
INPUTS = [((512, 512), (512, 512)), ((300, 451), (320, 480))]
CALIBRATION_SIZE = 128


def build_original(source_root: str, depth: int) -> Tuple[nn.Module, object]:
    """The original's ``PoseResNet`` of ``depth`` with CenterNet's COCO heads and head_conv 64
    (built directly: ``get_pose_net`` would download ImageNet weights), and its
    ``models.decode`` module."""
    network = import_centernet_network(source_root, "resnet_dcn")
    block, layers = network.resnet_spec[depth]
    model = network.PoseResNet(block, layers, HEADS, head_conv=64)
    decode = importlib.import_module("models.decode")  # src/lib is on the path now
    return model, decode


def fan_in(conv: nn.Module) -> int:
    """Inputs summed into one output of a conv (or of the original's ``DCN``, whose weight is
    laid out as a conv's); a 4x4 transposed conv of stride 2 sums 4 of its 16 taps."""
    weight = conv.weight
    if isinstance(conv, nn.ConvTranspose2d):
        return weight.shape[0] * weight[0, 0].numel() // 4
    return weight[0].numel()


@torch.no_grad()
def randomize(model: nn.Module, generator: torch.Generator) -> None:
    """Random weights everywhere: convs ~ N(0, 1 / fan_in) so that activations keep their
    scale through 101 layers; the DCNs' offset/mask convs large enough for offsets of about a
    pixel and modulation away from 1/2; BN statistics measured on random inputs (train-mode
    passes) then perturbed, with random affine parameters, so that they matter."""

    def normal(tensor: Tensor, std: float, mean: float = 0.0) -> None:
        tensor.copy_(torch.randn(tensor.shape, generator=generator) * std + mean)

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) or hasattr(
            module, "conv_offset_mask"
        ):
            offset_conv = name.endswith("conv_offset_mask")
            normal(module.weight, (0.5 if offset_conv else 1.0) / math.sqrt(fan_in(module)))
            if module.bias is not None:
                normal(module.bias, 0.5 if offset_conv else 0.1)
    # Last layers: heatmap logits about the original's initial -2.19, sizes of a few cells
    # (some negative), offsets within about a cell.
    for name, (bias_mean, bias_std) in HEAD_BIASES.items():
        head = getattr(model, name)
        normal(head[-1].weight, 2.0 / math.sqrt(head[-1].weight[0].numel()))
        normal(head[-1].bias, bias_std, mean=bias_mean)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative averages of the calibration batches
    model.train()
    for _ in range(2):
        model(torch.randn(2, 3, CALIBRATION_SIZE, CALIBRATION_SIZE, generator=generator))
    model.eval()
    for norm in norms:
        channels = norm.num_features
        std = norm.running_var.sqrt()
        norm.running_mean.add_(0.2 * std * torch.randn(channels, generator=generator))
        norm.running_var.mul_(torch.empty(channels).uniform_(0.7, 1.4, generator=generator))
        norm.weight.copy_(torch.empty(channels).uniform_(0.6, 1.2, generator=generator))
        norm.bias.copy_(torch.empty(channels).uniform_(-0.3, 0.3, generator=generator))
        norm.momentum = 0.1


def padded_input(image_size, padded_size, generator) -> Tuple[Tensor, List[Tuple[int, int]]]:
    """A normalized random image of ``image_size`` (about unit variance, as after the mean/std
    normalization) zero-padded at the right and bottom to ``padded_size``: ``[1, 3, H, W]``."""
    batch = torch.zeros(1, 3, *padded_size)
    batch[0, :, : image_size[0], : image_size[1]] = torch.randn(3, *image_size, generator=generator)
    return batch, [image_size]


def original_detections(decode, outputs: Dict[str, Tensor]) -> Tensor:
    """``[K, 6]`` (x1, y1, x2, y2 in output cells, score, class) as the original's
    ``CtdetDetector.process``: sigmoid, then ``ctdet_decode`` (K = 100)."""
    heat = outputs["hm"].sigmoid()
    return decode.ctdet_decode(heat, outputs["wh"], reg=outputs["reg"], K=100)[0]


def with_our_conventions(
    dets: Tensor, stride: int, image_size: Tuple[int, int], prob_clamp: float
) -> Tuple[Tensor, Dict[str, int]]:
    """The original's detections (:func:`original_detections`) with this project's
    conventions, in input pixels: a negative width or height taken as 0 (both ends of that
    axis at the center), boxes clipped to the image, scores clamped. Also how many detections
    each convention changes."""
    boxes = dets[:, :4].clone()
    for axis in (0, 1):
        low, high = boxes[:, axis].clone(), boxes[:, axis + 2].clone()
        negative = high < low
        center = (low + high) / 2
        boxes[:, axis] = torch.where(negative, center, low)
        boxes[:, axis + 2] = torch.where(negative, center, high)
    negative_size = (dets[:, 2:4] < dets[:, :2]).any(dim=1)
    boxes = boxes * stride
    height, width = image_size
    clipped = torch.stack(
        [boxes[:, 0].clamp(0, width), boxes[:, 1].clamp(0, height)]
        + [boxes[:, 2].clamp(0, width), boxes[:, 3].clamp(0, height)],
        dim=1,
    )
    scores = dets[:, 4].clamp(prob_clamp, 1 - prob_clamp)
    counts = {
        "negative size": int(negative_size.sum()),
        "clipped": int((clipped != boxes).any(dim=1).sum()),
        "score clamped": int((scores != dets[:, 4]).sum()),
    }
    return torch.cat([clipped, scores[:, None], dets[:, 5:6]], dim=1), counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--original", required=True, help="a checkout of xingyizhou/CenterNet")
    parser.add_argument("--depth", type=int, choices=[18, 101], required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--work-dir", help="where the checkpoints go (default: a temporary one)")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    generator = torch.Generator().manual_seed(args.seed)

    original, decode = build_original(args.original, args.depth)
    randomize(original, generator)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="centernet_resdcn_parity_")
    os.makedirs(work_dir, exist_ok=True)
    released = os.path.join(work_dir, f"ctdet_coco_resdcn{args.depth}_random.pth")
    converted_path = os.path.join(work_dir, f"centernet_resdcn{args.depth}_converted.pth")
    state = {f"module.{k}": v for k, v in original.state_dict().items()}
    torch.save({"epoch": 1, "state_dict": state}, released)

    converted = convert_checkpoint("centernet", read_checkpoint(released))
    save_converted(converted, converted_path, source="centernet")
    config = load_config(os.path.join(REPOSITORY, converted.config))
    ours = instantiate(config.model).eval()
    check_against_model(ours, converted.model)
    DetectionCheckpointer(ours).load(converted_path)
    print(f"{converted.architecture}: {released} -> {converted_path} ({converted.config})")

    offsets: List[Tensor] = []
    for module in original.modules():
        if hasattr(module, "conv_offset_mask"):
            module.conv_offset_mask.register_forward_hook(
                lambda _, __, out: offsets.append(out[:, : out.shape[1] * 2 // 3].abs().flatten())
            )
    failed = False
    for image_size, padded_size in INPUTS:
        batch, image_sizes = padded_input(image_size, padded_size, generator)
        theirs = original(batch)[-1]
        images = ImageList(batch, image_sizes)
        outputs = ours.forward_raw(images)
        label = f"{image_size[0]}x{image_size[1]} (input {padded_size[0]}x{padded_size[1]})"
        sampled = torch.cat(offsets)
        offsets.clear()
        print(
            f"  {label} DCN offsets: mean |offset| {sampled.mean():.2f} px, "
            f"{(sampled > 1).float().mean():.0%} above 1 px"
        )
        for name, mine in (("hm", outputs.heatmap), ("wh", outputs.wh), ("reg", outputs.offset)):
            diff = (mine - theirs[name]).abs().max().item()
            scale = theirs[name].abs().max().item()
            failed |= not diff <= args.tolerance
            print(f"  {label} {name:>3}: max abs diff {diff:.2e} (outputs up to {scale:.2f})")
        reference, counts = with_our_conventions(
            original_detections(decode, theirs), ours.stride, image_size, ours.prob_clamp
        )
        found = ours.decode(outputs, image_sizes)[0]
        same_classes = torch.equal(found.pred_classes, reference[:, 5].long())
        box_diff = (found.pred_boxes.tensor - reference[:, :4]).abs().max().item()
        score_diff = (found.scores - reference[:, 4]).abs().max().item()
        identical = len(found) == len(reference) and same_classes
        # Boxes are the network's outputs times the stride: the tolerance holds in cells.
        identical &= box_diff / ours.stride <= args.tolerance and score_diff <= args.tolerance
        failed |= not identical
        print(
            f"  {label} detections: {len(found)} vs the original's {len(reference)}, classes "
            f"{'identical' if same_classes else 'DIFFER'}, max abs diff boxes {box_diff:.2e} px, "
            f"scores {score_diff:.2e}; our conventions changed the original's: {counts}"
        )
    print("PASS" if not failed else "FAIL")
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
