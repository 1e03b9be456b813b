#!/usr/bin/env python
"""
Whole-network parity of CenterNet DLA-34 against xingyizhou/CenterNet, run by hand:

    git clone https://github.com/xingyizhou/CenterNet /tmp/dla-orig  # any checkout of it
    python tools/parity/check_centernet_dla.py --original /tmp/dla-orig [--float64]

Builds the original's ``DLASeg('dla34', heads={hm: 80, wh: 2, reg: 2}, head_conv=256)`` (as
``get_pose_net(34, ...)``, without the ImageNet download; the classifier ``base.fc`` that
``load_pretrained_model`` attaches is added as it does, so the file has the released layout)
with the reference DCNv2 (:mod:`tools.parity.centernet_original`), gives it random weights
(BatchNorm affine parameters and running statistics, and offset/mask convs that deform by
about a pixel, so that every part matters), saves them as the original's ``save_model``
(``{"epoch", "state_dict"}``), converts them with ``tools/convert_checkpoint.py --source
centernet``, loads them into this project's CenterNet of
``configs/CenterNet/centernet_dla34_2x.py`` and compares both on the same normalized inputs:

* the head outputs (heatmap logits, sizes, offsets): max abs difference, required <= 1e-4;
* the decoded top-100: the original's ``ctdet_decode`` (after its sigmoid) against this
  project's peak decoding (``CenterNetPostprocessor.peak_boxes`` at stride 1) on the outputs of
  each, in output-grid cells. Where this project's conventions differ (heatmap probabilities
  clamped to ``[prob_clamp, 1 - prob_clamp]``, negative sizes decoded as 0) the detections
  concerned are counted and reported, not failed.

The reference DCNv2 is slow (minutes for a 512x512 input on one core). float32 by default: the
differences are then mostly those of the two deformable-conv implementations, which sum in
different orders; ``--float64`` runs both networks in double precision, where all rounding
differences shrink by about 9 orders of magnitude.
"""

import argparse
import math
import os
import sys
import tempfile
from typing import Dict, List, Tuple

import torch
from torch import nn

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for path in (REPOSITORY, os.path.join(REPOSITORY, "projects")):
    if path not in sys.path:
        sys.path.insert(0, path)

import anchorfree.data  # noqa: E402, F401  (registers the datasets the config names)
from anchorfree.config import load_config  # noqa: E402
from anchorfree.conversion.centernet_dla import CONFIG  # noqa: E402
from tools.convert_checkpoint import main as convert_checkpoint  # noqa: E402
from tools.parity.centernet_original import import_centernet_network  # noqa: E402

from detectron2.checkpoint import DetectionCheckpointer  # noqa: E402
from detectron2.config import instantiate  # noqa: E402
from detectron2.structures import ImageList  # noqa: E402

HEADS = {"hm": 80, "wh": 2, "reg": 2}
TOPK = 100
TOLERANCE = 1e-4
# The input size that sets the BatchNorm statistics (a multiple of 32): large enough that the
# coarsest level's statistics are not those of its borders.
CALIBRATION_SIZE = (512, 512)
VARIANCE_FLOOR = 0.01


def build_original(source_root: str) -> nn.Module:
    """The original's CenterNet DLA-34 as ``get_pose_net(34, HEADS, head_conv=256)`` builds
    it, ImageNet classifier included, without downloading the ImageNet weights."""
    networks = import_centernet_network(source_root, "pose_dla_dcn")
    model = networks.DLASeg(
        "dla34",
        HEADS,
        pretrained=False,
        down_ratio=4,
        final_kernel=1,
        last_level=5,
        head_conv=256,
    )
    # What load_pretrained_model adds before loading the ImageNet weights (1000 classes).
    model.base.fc = nn.Conv2d(model.base.channels[-1], 1000, kernel_size=1, bias=True)
    return model


@torch.no_grad()
def randomize(model: nn.Module, generator: torch.Generator) -> None:
    """
    Weights whose effects all reach the outputs: convs (the DCNs' too) at He scale; the
    upsampling deconvs away from their bilinear start; offset/mask convs with offsets of a
    pixel or two and masks away from 1/2; BatchNorm affine parameters and running statistics
    (:func:`calibrate_batchnorm`); heads whose outputs vary over the image, with sizes mostly
    positive as a trained model's (the decodings then compare box by box).
    """

    def uniform(tensor, low, high):
        tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)

    def normal(tensor, std):
        tensor.copy_(torch.randn(tensor.shape, generator=generator) * std)

    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if isinstance(module, nn.BatchNorm2d):
            uniform(module.weight, 0.5, 1.5)
            uniform(module.bias, -0.5, 0.5)
        elif name.endswith("conv_offset_mask"):
            normal(weight, 1 / math.sqrt(weight[0].numel()))
            uniform(module.bias, -1.0, 1.0)
        elif isinstance(module, nn.ConvTranspose2d):
            uniform(weight, 0.0, 0.5)
        elif isinstance(weight, nn.Parameter) and weight.dim() == 4:  # Conv2d and DCN
            normal(weight, math.sqrt(2 / weight[0].numel()))
            if getattr(module, "bias", None) is not None:
                uniform(module.bias, -0.5, 0.5)
    for head in HEADS:
        last = getattr(model, head)[-1]
        normal(last.weight, 1 / math.sqrt(last.weight[0].numel()))
    uniform(model.hm[-1].bias, -3.0, 0.0)
    uniform(model.reg[-1].bias, 0.0, 1.0)
    uniform(model.wh[-1].bias, 4.0, 8.0)
    calibrate_batchnorm(model, generator)


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, generator: torch.Generator) -> None:
    """
    Every BatchNorm's running statistics set, in one inference pass over a random input, from
    the statistics of what reaches it in that pass (upstream norms already set), then perturbed
    (mean shifted by up to half a standard deviation, variance scaled by 0.5-2) so that they
    matter. The features then stay in a trained network's range through the 40-odd layers and
    the heatmap does not saturate (float32 sigmoids of large logits tie at 1, and ties rank
    arbitrarily).
    """

    def set_statistics(module, inputs):
        x = inputs[0]
        mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
        shift = torch.rand(mean.shape, generator=generator) - 0.5
        scale = torch.rand(var.shape, generator=generator) * 1.5 + 0.5
        module.running_mean.copy_(mean + shift * var.sqrt())
        # Channels left (nearly) constant would divide by sqrt(eps) and turn rounding
        # upstream into visible differences.
        module.running_var.copy_((var * scale).clamp(min=VARIANCE_FLOOR))
        module.num_batches_tracked.fill_(1000)

    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    hooks = [m.register_forward_pre_hook(set_statistics) for m in norms]
    model.eval()
    model(torch.randn(1, 3, *CALIBRATION_SIZE, generator=generator))
    for hook in hooks:
        hook.remove()


def record_offsets(model: nn.Module) -> Tuple[List[torch.Tensor], List]:
    """Hooks on the original's offset/mask convs that collect ``mean |offset|`` (pixels) of
    every call, to show that the deformable convs do deform; and their handles."""
    magnitudes = []

    def hook(module, inputs, output):
        offset_channels = 2 * output.shape[1] // 3
        magnitudes.append(output[:, :offset_channels].abs().mean())

    handles = [
        module.register_forward_hook(hook)
        for name, module in model.named_modules()
        if name.endswith("conv_offset_mask")
    ]
    return magnitudes, handles


def original_decode(outputs: Dict[str, torch.Tensor]) -> torch.Tensor:
    """``ctdet_decode`` of the original on its own outputs, after ``CtdetDetector.process``'s
    sigmoid: ``[N, K, 6]`` = box (x1, y1, x2, y2) in output cells, score, class."""
    # The checkout's src/lib, on sys.path since import_centernet_network.
    from models.decode import ctdet_decode

    return ctdet_decode(outputs["hm"].sigmoid(), outputs["wh"], reg=outputs["reg"], K=TOPK)


def compare(
    original: nn.Module, ours: nn.Module, size: Tuple[int, int], seed: int
) -> Dict[str, object]:
    """Both networks on one random ``[1, 3, H, W]`` normalized input of ``size``: the
    differences of their head outputs and of their top-K decodings."""
    height, width = size
    dtype = next(ours.parameters()).dtype
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 3, height, width, generator=generator).to(dtype)
    offsets, hooks = record_offsets(original)
    with torch.no_grad():
        theirs = original(x)[0]
        mine = ours.forward_raw(ImageList(x, [(height, width)]))
    for hook in hooks:
        hook.remove()
    report = {
        "deformable convs, mean |offset| (px), min over the layers": min(offsets).item(),
        "heatmap logits: their range": (theirs["hm"].min().item(), theirs["hm"].max().item()),
        "heatmap logits: their std over the cells, mean over classes": theirs["hm"]
        .flatten(2)
        .std(dim=2)
        .mean()
        .item(),
        "wh: their range": (theirs["wh"].min().item(), theirs["wh"].max().item()),
        "heatmap logits": (mine.heatmap - theirs["hm"]).abs().max().item(),
        "wh": (mine.wh - theirs["wh"]).abs().max().item(),
        "offset": (mine.offset - theirs["reg"]).abs().max().item(),
    }
    with torch.no_grad():
        detections = original_decode(theirs)[0]
        # The original's probabilities (its plain sigmoid), then this project's defaults
        # (clamped to [prob_clamp, 1 - prob_clamp], as in the loss).
        for conventions, probabilities in [
            ("sigmoid", mine.heatmap.sigmoid()),
            ("default clamped sigmoid", ours.heatmap_probs(mine.heatmap)),
        ]:
            boxes, peaks = ours.postprocessor.peak_boxes(probabilities, mine.wh, mine.offset, 1)
            differences = decoding_differences(boxes[0], peaks, detections)
            report.update({f"decoded, {conventions}: {k}": v for k, v in differences.items()})
    clamped = (detections[:, 4] > 1 - ours.prob_clamp) | (detections[:, 4] < ours.prob_clamp)
    report["detections whose score the default clamps"] = int(clamped.sum())
    return report


def decoding_differences(boxes, peaks, detections) -> Dict[str, object]:
    """This project's top-K (``[K, 4]`` boxes in cells and the first image's ``peaks``) against
    the original's ``[K, 6]`` detections, rank by rank."""
    # Box centres do not depend on the sizes, so they compare for every detection; the boxes
    # where the original's sizes are >= 0 (this project decodes negative sizes as 0).
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    their_centres = (detections[:, :2] + detections[:, 2:4]) / 2
    negative = (detections[:, 2:4] < detections[:, :2]).any(dim=1)
    return {
        "same classes": torch.equal(peaks.classes[0], detections[:, 5].long()),
        "score max abs diff": max_abs(peaks.scores[0] - detections[:, 4]),
        "centre max abs diff": max_abs(centres - their_centres),
        "box max abs diff (sizes >= 0)": max_abs(boxes - detections[:, :4], ~negative),
        "detections with a negative size": int(negative.sum()),
    }


def max_abs(difference: torch.Tensor, rows: torch.Tensor = None) -> float:
    """Max abs value of ``difference`` (of the selected ``rows``; 0 where none)."""
    if rows is not None:
        difference = difference[rows]
    return difference.abs().max().item() if difference.numel() else 0.0


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--original", required=True, help="a checkout of xingyizhou/CenterNet")
    parser.add_argument(
        "--sizes",
        nargs="+",
        default=["512x512", "384x512"],
        help="input sizes HxW (multiples of 32)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--float64", action="store_true", help="both networks in float64")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    original = build_original(args.original)
    randomize(original, torch.Generator().manual_seed(args.seed))
    original.eval()
    with tempfile.TemporaryDirectory() as tmp:
        released = os.path.join(tmp, "ctdet_coco_dla_random.pth")
        converted = os.path.join(tmp, "converted.pth")
        torch.save({"epoch": 1, "state_dict": original.state_dict()}, released)
        convert_checkpoint(["--source", "centernet", released, converted])
        ours = instantiate(load_config(os.path.join(REPOSITORY, CONFIG)).model)
        DetectionCheckpointer(ours).load(converted)
    ours.eval()
    if args.float64:
        original.double()
        ours.double()
    failed = False
    for index, size in enumerate(args.sizes):
        height, width = (int(v) for v in size.split("x"))
        report = compare(original, ours, (height, width), args.seed + index)
        print(f"\n1x3x{height}x{width}:")
        for key, value in report.items():
            if isinstance(value, tuple):
                value = f"[{value[0]:.3g}, {value[1]:.3g}]"
            print(f"  {key}: {value:.3g}" if isinstance(value, float) else f"  {key}: {value}")
        # Required: the head outputs, and the decoding with the original's probabilities.
        failed |= max(report["heatmap logits"], report["wh"], report["offset"]) > TOLERANCE
        failed |= not report["decoded, sigmoid: same classes"]
        failed |= any(
            report[f"decoded, sigmoid: {k}"] > TOLERANCE
            for k in ("score max abs diff", "centre max abs diff", "box max abs diff (sizes >= 0)")
        )
    print(
        "\nFAILED"
        if failed
        else f"\nPASSED (head outputs and the decoding with the original's sigmoid within "
        f"{TOLERANCE:g})"
    )
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
