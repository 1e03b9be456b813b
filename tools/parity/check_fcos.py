#!/usr/bin/env python
"""
Whole-network parity of the FCOS converters, by hand (not in CI): builds each original's FCOS
(backbone + FPN + head) from a checkout of its source, with random weights (frozen BatchNorm
statistics and the per-level scales too), saves them in the original's checkpoint format,
converts them with ``--source fcos-tianzhi`` / ``fcos-adelaidet``, loads them into our model
from the config the converter names, and compares on the same preprocessed input:

* per level, the head's class logits, box distances in pixels (each original's output after
  its scale, ReLU or exp, and stride; ours times the stride where it predicts in strides)
  and centerness logits: max abs difference;
* the detections of each original's own postprocess (its inference code; maskrcnn-benchmark's
  compiled ``ml_nms`` by :func:`.reference_ops.ml_nms_plus_one_reference`, AdelaiDet's
  Detectron2 ``batched_nms`` as it is) against ours from the same head outputs.

    git --git-dir=/work/.mirror/tianzhi0549+FCOS/repo archive HEAD | tar -x -C /tmp/fcos-tianzhi
    git --git-dir=/work/.mirror/aim-uofa+AdelaiDet/repo archive HEAD | tar -x -C /tmp/fcos-adelaidet
    python tools/parity/check_fcos.py --tianzhi /tmp/fcos-tianzhi --adelaidet /tmp/fcos-adelaidet

Stood in for: ``fcos_core._C`` (``ml_nms``, the only compiled op FCOS inference calls; every
other raises if called), ``adet._C`` and ``skimage.color`` (imported with the rest of
AdelaiDet, not called by FCOS), and ``torch._six``, which recent PyTorch removed, with the one
attribute maskrcnn-benchmark reads.
``--dump-layouts DIR`` also writes the checkpoints' key names and shapes as JSON (the layouts
of ``tests/conversion/layouts``).
"""

import argparse
import copy
import json
import os
import sys
import tempfile
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from torch import Tensor, nn

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for path in (os.path.join(REPOSITORY, "projects"), REPOSITORY):
    if path not in sys.path:
        sys.path.insert(0, path)

import anchorfree  # noqa: E402, F401  (stand-in for detectron2._C where the compiled one is missing)
from anchorfree.config import load_config  # noqa: E402
from anchorfree.conversion import (  # noqa: E402
    check_against_model,
    convert_checkpoint,
    read_checkpoint,
)
from tools.parity.reference_ops import ml_nms_plus_one_reference, stub_module  # noqa: E402

from detectron2.config import instantiate  # noqa: E402
from detectron2.modeling.postprocessing import detector_postprocess  # noqa: E402
from detectron2.structures import Instances  # noqa: E402

# Each original's configs: (its config file, its released model's name).
TIANZHI_MODELS = [
    ("configs/fcos/fcos_imprv_R_50_FPN_1x.yaml", "FCOS_imprv_R_50_FPN_1x"),
    ("configs/fcos/fcos_R_50_FPN_1x.yaml", "FCOS_R_50_FPN_1x"),
]
TIANZHI_PAPER_CONFIG = "configs/FCOS/fcos_R_50_FPN_1x_tianzhi.py"
ADELAIDET_MODELS = [("configs/FCOS-Detection/R_50_1x.yaml", "FCOS_R_50_1x")]

# (padded input height, width), (image height, width) inside it: COCO-like and a small one.
INPUTS = [((800, 1088), (800, 1066)), ((320, 416), (300, 401))]

HEAD_TOLERANCE = 1e-4


def _not_called(name: str) -> Callable:
    def missing(*args, **kwargs):
        raise NotImplementedError(f"compiled {name} stand-in: not used by FCOS inference")

    return missing


def _module_getattr(module_name: str) -> Callable[[str], Callable]:
    return lambda name: _not_called(f"{module_name}.{name}")


def build_tianzhi(root: str, config_file: str) -> nn.Module:
    """tianzhi0549/FCOS's ``GeneralizedRCNN`` of ``config_file`` (CPU, eval)."""
    if root not in sys.path:
        sys.path.insert(0, root)
    torch._six = stub_module("torch._six", PY3=True)
    stub_module(
        "fcos_core._C",
        ml_nms=ml_nms_plus_one_reference,
        __getattr__=_module_getattr("fcos_core._C"),
    )
    from fcos_core.config import cfg as default_cfg
    from fcos_core.modeling.detector import build_detection_model

    cfg = default_cfg.clone()
    cfg.merge_from_file(os.path.join(root, config_file))
    cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    return build_detection_model(cfg).eval()


def build_adelaidet(root: str, config_file: str) -> nn.Module:
    """AdelaiDet's ``OneStageDetector`` of ``config_file`` (CPU, eval)."""
    if root not in sys.path:
        sys.path.insert(0, root)
    stub_module("adet._C", __getattr__=_module_getattr("adet._C"))
    # CondInst, imported with the rest of adet.modeling, imports scikit-image's color module
    # (which FCOS never calls).
    stub_module("skimage", color=stub_module("skimage.color"))
    import adet  # noqa: F401  (registers its meta-architectures, backbones, FCOS)
    from adet.config import get_cfg

    from detectron2.modeling import build_model

    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(root, config_file))
    cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    return build_model(cfg).eval()


@torch.no_grad()
def randomize_(model: nn.Module, *, exp_boxes: bool, seed: int = 0) -> None:
    """Random weights that keep activations of order 1 and give detections: convs
    ``N(0, 2 / fan_in)``, norm scales and BN variances ``U(0.5, 1.5)``, biases and BN means
    ``N(0, 0.1)``, per-level scales ``U(0.5, 1.5)``; the classifier's bias such that a part of
    the points pass the 0.05 threshold, the box output's bias such that boxes span about a
    stride (``exp_boxes``: ``exp`` output in pixels)."""
    generator = torch.Generator().manual_seed(seed)
    for name, tensor in model.state_dict().items():
        if not tensor.is_floating_point():
            continue
        if tensor.dim() == 4:
            fan_in = tensor[0].numel()
            values = torch.randn(tensor.shape, generator=generator) * (2.0 / fan_in) ** 0.5
        elif name.endswith("running_var") or name.endswith("scale"):
            values = torch.rand(tensor.shape, generator=generator) + 0.5
        elif name.endswith("weight"):
            values = torch.rand(tensor.shape, generator=generator) + 0.5
        else:
            values = torch.randn(tensor.shape, generator=generator) * 0.1
        tensor.copy_(values)
    for name, tensor in model.state_dict().items():
        if name.endswith(("cls_logits.bias", "cls_score.bias")):
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.3 - 3.0)
        if name.endswith("bbox_pred.bias"):
            offset = 3.0 if exp_boxes else 0.5
            tensor.copy_(torch.rand(tensor.shape, generator=generator) + offset)


def save_layout(state_dict: Dict[str, Tensor], path: str) -> None:
    """The key names and shapes of ``state_dict`` as a JSON object, one key a line."""
    lines = [f"{json.dumps(k)}: {json.dumps(list(v.shape))}" for k, v in state_dict.items()]
    with open(path, "w") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")


def load_ours(config: str, model_weights: Dict[str, Tensor]) -> nn.Module:
    model = instantiate(load_config(os.path.join(REPOSITORY, config)).model).eval()
    check_against_model(model, model_weights)
    model.load_state_dict(model_weights, strict=True)
    return model


def our_head(model: nn.Module, x: Tensor) -> Tuple[Tuple[List[Tensor], ...], List[Tensor]]:
    """Our raw head outputs on ``x`` (as ``decode`` takes them) and the box distances in
    pixels."""
    features = model.backbone(x)
    raw = model.head([features[f] for f in model.head_in_features])
    box = raw[1]
    if model.head.norm_reg_targets:
        box = [b * s for b, s in zip(box, model.strides)]
    return raw, box


def max_abs_diff(a: Sequence[Tensor], b: Sequence[Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


def max_rel_diff(a: Sequence[Tensor], b: Sequence[Tensor]) -> float:
    """Largest ``|a - b| / max(1, |b|)``: box distances reach hundreds of pixels, where float32
    resolves about 1e-5 and ``exp`` scales the logits' rounding by the distance."""
    return max(float(((x - y).abs() / y.abs().clamp(min=1)).max()) for x, y in zip(a, b))


HeadOutputs = Tuple[List[Tensor], List[Tensor], List[Tensor]]


def head_differences(
    their_head: Callable[[Tensor], HeadOutputs], ours: nn.Module, original: nn.Module, x: Tensor
) -> Tuple[Dict[str, float], bool]:
    """Head outputs of the original (``their_head``: class logits, box distances in pixels,
    centerness) against ours on ``x``, in float64 (the mapping: rounding aside, equal) and in
    float32 (as run); whether all float64 differences and the float32 logits' are within
    :data:`HEAD_TOLERANCE` (float32 box distances are reported: hundreds of pixels, or the
    ``exp`` of a logit, they carry the logits' rounding times their size)."""
    diffs, ok = {}, True
    for dtype in (torch.float64, torch.float32):
        original.to(dtype)
        ours.to(dtype)
        cls, box, ctr = their_head(x.to(dtype))
        (our_cls, _, our_ctr), our_box = our_head(ours, x.to(dtype))
        name = "f64" if dtype == torch.float64 else "f32"
        result = {
            f"{name}_cls": max_abs_diff(cls, our_cls),
            f"{name}_box_px": max_abs_diff(box, our_box),
            f"{name}_box_rel": max_rel_diff(box, our_box),
            f"{name}_ctr": max_abs_diff(ctr, our_ctr),
        }
        checked = [v for k, v in result.items() if dtype == torch.float64 or "box" not in k]
        ok &= max(checked) <= HEAD_TOLERANCE
        diffs.update(result)
    return {k: float(f"{v:.2e}") for k, v in diffs.items()}, ok


def compare_detections(theirs: Tuple[Tensor, Tensor, Tensor], ours: Instances) -> Dict[str, float]:
    """Detections ``(boxes, scores, classes)`` of an original against ours: the counts, how
    many of theirs ours has (same class, boxes within 1e-2 px, scores within 1e-4: float32
    rounding apart), and the largest box / score difference of those."""
    boxes, scores, classes = theirs
    box_diff = (boxes[:, None, :] - ours.pred_boxes.tensor[None]).abs().amax(dim=2)
    score_diff = (scores[:, None] - ours.scores[None]).abs()
    same = (classes[:, None] == ours.pred_classes[None]) & (box_diff < 1e-2) & (score_diff < 1e-4)
    matched = same.any(dim=1)
    result = {"theirs": len(scores), "ours": len(ours), "matched": int(matched.sum())}
    if matched.any():
        inf = torch.full_like(box_diff, float("inf"))
        result["max_box_diff"] = float(torch.where(same, box_diff, inf).amin(dim=1)[matched].max())
        result["max_score_diff"] = float(
            torch.where(same, score_diff, inf).amin(dim=1)[matched].max()
        )
    return result


def decode_with_our_defaults(model: nn.Module, raw, image_size) -> Instances:
    """Detections as :meth:`decode` gives them with this project's default box conventions
    (clip before NMS, continuous coordinates), the thresholds of the config otherwise."""
    defaults = copy.copy(model.postprocessor)
    defaults.clip_before_nms, defaults.pixel_offset = True, 0
    original, model.postprocessor = model.postprocessor, defaults
    try:
        (detections,) = model.decode(raw, [image_size])
    finally:
        model.postprocessor = original
    return detections


def check_tianzhi(root: str, dump: str = "") -> bool:
    passed = True
    for config_file, released in TIANZHI_MODELS:
        original = build_tianzhi(root, config_file)
        randomize_(original, exp_boxes=not original.rpn.head.norm_reg_targets)
        checkpoint = {
            "model": {f"module.{k}": v for k, v in original.state_dict().items()},
            "optimizer": {"state": {}, "param_groups": []},
            "scheduler": {"last_epoch": 0},
            "iteration": 90000,
        }
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"{released}.pth")
            torch.save(checkpoint, path)
            converted = convert_checkpoint("fcos-tianzhi", read_checkpoint(path))
        if dump:
            save_layout(checkpoint["model"], os.path.join(dump, f"fcos_tianzhi_{released}.json"))
        config = converted.config if "imprv" in released else TIANZHI_PAPER_CONFIG
        ours = load_ours(config, converted.model)
        for (height, width), image_size in INPUTS:
            x = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(1)) * 50
            diffs, ok = head_differences(
                lambda x: original.rpn.head(original.backbone(x)), ours, original, x
            )
            with torch.no_grad():
                features = original.backbone(x)
                cls, box, ctr = original.rpn.head(features)
                raw, _ = our_head(ours, x)
                locations = original.rpn.compute_locations(features)
                # Its postprocess views the class scores after a permute, which recent PyTorch
                # only allows where the permuted tensor is contiguous: the same values laid
                # out channels-last are.
                cls_last = [c.contiguous(memory_format=torch.channels_last) for c in cls]
                (boxlist,) = original.rpn.box_selector_test(
                    locations, cls_last, box, ctr, [image_size]
                )
                (detections,) = ours.decode(raw, [image_size])
                with_defaults = decode_with_our_defaults(ours, raw, image_size)
            theirs = (boxlist.bbox, boxlist.get_field("scores"), boxlist.get_field("labels") - 1)
            report = compare_detections(theirs, detections)
            report_defaults = compare_detections(theirs, with_defaults)
            passed &= ok
            print(f"tianzhi0549 {released} {height}x{width} (image {image_size}): head {diffs}")
            print(f"    detections, the original's conventions: {report}")
            print(f"    detections, our default conventions: {report_defaults}")
    return passed


def check_adelaidet(root: str, dump: str = "") -> bool:
    passed = True
    for config_file, released in ADELAIDET_MODELS:
        original = build_adelaidet(root, config_file)
        randomize_(original, exp_boxes=False)
        checkpoint = {"model": original.state_dict(), "iteration": 90000}
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"{released}.pth")
            torch.save(checkpoint, path)
            converted = convert_checkpoint("fcos-adelaidet", read_checkpoint(path))
        if dump:
            save_layout(checkpoint["model"], os.path.join(dump, f"fcos_adelaidet_{released}.json"))
        ours = load_ours(converted.config, converted.model)
        generator = original.proposal_generator
        for (height, width), image_size in INPUTS:
            x = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(1)) * 50

            def their_head(x: Tensor) -> HeadOutputs:
                features = original.backbone(x)
                cls, box, ctr, _, _ = generator.fcos_head(
                    [features[f] for f in generator.in_features], None, False
                )
                return cls, [b * s for b, s in zip(box, generator.fpn_strides)], ctr

            diffs, ok = head_differences(their_head, ours, original, x)
            with torch.no_grad():
                features = original.backbone(x)
                features = [features[f] for f in generator.in_features]
                cls, box, ctr, top_feats, _ = generator.fcos_head(features, None, False)
                raw, _ = our_head(ours, x)
                locations = generator.compute_locations(features)
                (result,) = generator.fcos_outputs.predict_proposals(
                    cls, box, ctr, locations, [image_size], top_feats
                )
                (detections,) = ours.decode(raw, [image_size])
                with_defaults = decode_with_our_defaults(ours, raw, image_size)
            # All as Detectron2's forward returns them: clipped to the image (no rescaling).
            result = detector_postprocess(result, *image_size)
            detections = detector_postprocess(detections, *image_size)
            with_defaults = detector_postprocess(with_defaults, *image_size)
            theirs = (result.pred_boxes.tensor, result.scores, result.pred_classes)
            report = compare_detections(theirs, detections)
            report_defaults = compare_detections(theirs, with_defaults)
            passed &= ok
            print(f"AdelaiDet {released} {height}x{width} (image {image_size}): head {diffs}")
            print(f"    detections, the original's conventions: {report}")
            print(f"    detections, our default conventions: {report_defaults}")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tianzhi", help="a checkout of tianzhi0549/FCOS")
    parser.add_argument("--adelaidet", help="a checkout of aim-uofa/AdelaiDet")
    parser.add_argument("--dump-layouts", default="", help="write the key layouts here")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    passed = True
    if args.tianzhi:
        passed &= check_tianzhi(args.tianzhi, args.dump_layouts)
    if args.adelaidet:
        passed &= check_adelaidet(args.adelaidet, args.dump_layouts)
    print("PASS" if passed else "FAIL")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
