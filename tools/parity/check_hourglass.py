"""
Whole-network parity of the Hourglass-104 converters, by hand (not in CI): builds the original
CornerNet (princeton-vl/CornerNet ``models/CornerNet.py``, with
:func:`.reference_ops.corner_pool_reference` standing in for the compiled ``_cpools``) and
CenterNet's ``large_hourglass`` (xingyizhou/CenterNet) from checkouts, gives them random weights
and BatchNorm statistics, saves them as their releases are saved, converts them with
``tools/convert_checkpoint.py``'s converters, loads them into this project's models of the
configs the converters name, and compares on the same input:

- the decoded stack's head outputs (max abs difference; <= 1e-4 required);
- the detections of the originals' decoders (CornerNet ``kp_utils._decode`` with its test
  settings K=100, kernel 3, ae_threshold 0.5; CenterNet ``ctdet_decode``, K=100) against
  this project's decoding of the same outputs (CornerNet: the corner pairs before soft-NMS;
  CenterNet: the peak boxes before clipping), in output-grid cells.

Usage::

    python -m tools.parity.check_hourglass --cornernet /tmp/CornerNet --centernet /tmp/CenterNet

Each network at 511x511 / 512x512 on one CPU core takes a minute or so.
"""

import argparse
import importlib
import os
import sys
import tempfile
from typing import List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from anchorfree.config import load_config
from anchorfree.conversion import check_against_model, convert_checkpoint, read_checkpoint
from anchorfree.cornernet.head import CornerPredictions
from anchorfree.modeling.peaks import gather_at

from detectron2.config import instantiate
from detectron2.structures import ImageList

from .centernet_original import import_centernet_network
from .reference_ops import corner_pool_reference, stub_module

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Both originals' COCO statistics (CornerNet db/coco.py, CenterNet datasets/dataset/coco.py):
# BGR, on [0, 1] pixel values.
MEAN_BGR = np.array([0.40789654, 0.44719302, 0.47026115], dtype=np.float32)
STD_BGR = np.array([0.28863828, 0.27408164, 0.27809835], dtype=np.float32)
REQUIRED_MAX_DIFF = 1e-4
# Relative size of the random changes of the calibrated BatchNorm statistics.
PERTURBATION = 0.2
# The smallest calibrated running variance, relative to the layer's mean variance.
VARIANCE_FLOOR = 0.1
# Mean and std of the random heatmap logits (the mean: the originals' initial -2.19,
# probability 0.1) and of the random embeddings (CornerNet pairs within 0.5).
HEATMAP_LOGITS = (-2.19, 1.0)
EMBEDDINGS = (0.0, 0.3)
# Corner pairs planted in CornerNet's outputs for the decoders, and their logit.
PLANTED_PAIRS = 30
PLANTED_LOGIT = 6.0
# Our configs' heatmap probability clamp (model.prob_clamp).
PROB_CLAMP = 1e-4
# Images the BatchNorm statistics are calibrated on.
CALIBRATION_IMAGES = 4


def forget_package(name: str, root: str) -> None:
    """Both originals have a top-level ``models`` package: drop one before importing the
    other."""
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]
    if root in sys.path:
        sys.path.remove(root)


def import_cornernet(root: str):
    """``models.CornerNet`` and ``models.py_utils.kp_utils`` of a CornerNet checkout, the
    compiled pools replaced by the reference loops."""
    root = os.path.abspath(root)
    if not os.path.isfile(os.path.join(root, "models", "CornerNet.py")):
        raise FileNotFoundError(f"{root} is not a checkout of princeton-vl/CornerNet")
    for direction in ("top", "bottom", "left", "right"):
        stub_module(
            f"{direction}_pool",
            forward=lambda x, d=direction: [corner_pool_reference(x, d)],
        )
    sys.path.insert(0, root)
    return (
        importlib.import_module("models.CornerNet"),
        importlib.import_module("models.py_utils.kp_utils"),
    )


@torch.no_grad()
def randomize(net: nn.Module, calibration_batch: Tensor, run, seed: int) -> None:
    """
    Random weights (PyTorch's default initializations, re-drawn) with BatchNorm affine
    parameters and running statistics that matter. Each BatchNorm's running statistics are
    those of its own input when ``run(net, calibration_batch)`` reaches it in eval mode, changed
    at random by ``PERTURBATION``: far from the initial 0 and 1, and not the input's exactly,
    while activations stay of order one through the 100 layers (each layer's statistics are
    measured after the changes of the layers before it; changing them afterwards would compound
    through the stacked blocks). ``calibration_batch``: several images, not the compared one,
    as trained statistics are a data set's: statistics of the compared image alone, taken over
    the few cells of the hourglass's middle, would make the network chaotic (a float rounding
    of the input changing the outputs entirely).
    """
    torch.manual_seed(seed)
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            module.reset_parameters()
    for norm in norms:
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_(0.0, 0.2)

    def calibrate(norm: nn.BatchNorm2d, inputs) -> None:
        (x,) = inputs
        mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
        # Channels that barely vary (dead ReLUs) would get gains of up to 1 / sqrt(eps).
        var = torch.maximum(var, VARIANCE_FLOOR * var.mean())
        norm.running_mean.copy_(mean + PERTURBATION * var.sqrt() * torch.randn_like(mean))
        norm.running_var.copy_(var * (1 + PERTURBATION * torch.empty_like(var).uniform_(-1, 1)))
        norm.num_batches_tracked.fill_(1000)

    net.eval()
    hooks = [norm.register_forward_pre_hook(calibrate) for norm in norms]
    run(net, calibration_batch)
    for hook in hooks:
        hook.remove()


@torch.no_grad()
def standardize_outputs(
    net: nn.Module, x: Tensor, run, output_convs: Sequence[Tuple[nn.Conv2d, float, float]]
) -> None:
    """
    Scale each ``(conv, mean, std)`` of ``output_convs`` (the last, linear conv of a decoded
    branch) so that each of its channels has that mean and std on ``run(net, x)``: heatmap
    logits around the initial -2.19 with the same spread in every class, embeddings close
    enough to pair. With random weights a few classes would otherwise hold all the top-K
    corners, far apart in embedding, and the decoders would have nothing to compare.
    """

    def standardize(conv: nn.Conv2d, mean: float, std: float, output: Tensor) -> None:
        scale = std / output.std((0, 2, 3))
        conv.weight *= scale[:, None, None, None]
        conv.bias.copy_(scale * (conv.bias - output.mean((0, 2, 3))) + mean)

    hooks = [
        conv.register_forward_hook(lambda c, i, out, m=mean, s=std: standardize(c, m, s, out))
        for conv, mean, std in output_convs
    ]
    run(net, x)
    for hook in hooks:
        hook.remove()


def bgr_image(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random ``[H, W, 3]`` BGR image with values in [0, 255] (float32)."""
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.uniform(0, 255, (1, 3, height // 8 + 1, width // 8 + 1)))
    smooth = nn.functional.interpolate(coarse, size=(height, width), mode="bilinear")
    noise = rng.normal(0, 10, (3, height, width))
    image = (smooth[0].numpy() + noise).clip(0, 255).astype(np.float32)
    return image.transpose(1, 2, 0)


def original_input(image: np.ndarray) -> Tensor:
    """The originals' test-time normalization: ``(image / 255 - mean) / std``, NCHW."""
    normalized = (image / 255.0 - MEAN_BGR) / STD_BGR
    return torch.from_numpy(normalized.transpose(2, 0, 1).copy())[None]


def our_model(config: str, checkpoint_path: str, source: str) -> nn.Module:
    converted = convert_checkpoint(source, read_checkpoint(checkpoint_path))
    if converted.config != config:
        raise AssertionError(f"the converter names {converted.config}, expected {config}")
    model = instantiate(load_config(os.path.join(REPOSITORY, config)).model)
    check_against_model(model, converted.model)
    model.load_state_dict(converted.model, strict=True)
    return model.eval()


def calibration_images(size: int) -> Tensor:
    return torch.cat(
        [original_input(bgr_image(size, size, seed=100 + i)) for i in range(CALIBRATION_IMAGES)]
    )


@torch.no_grad()
def our_outputs(model: nn.Module, image: np.ndarray, normalized: Tensor):
    """
    ``model``'s raw outputs of its decoded head on ``normalized`` (the originals' normalization
    of ``image``), padded as ``model`` pads (zeros, bottom and right, to the backbone's size
    divisibility); the same input bit for bit, as the network amplifies float roundings. Also
    prints how far ``model``'s own normalization of the BGR ``image`` is from it.
    """
    own = model.preprocess_image([{"image": torch.from_numpy(image.transpose(2, 0, 1).copy())}])
    height, width = normalized.shape[-2:]
    own_diff = (own.tensor[..., :height, :width] - normalized).abs().max().item()
    images = ImageList.from_tensors([normalized[0]], model.backbone.size_divisibility)
    print(
        f"  ours: input padded to {tuple(images.tensor.shape)}; its own normalization of the "
        f"image differs from the original's by {own_diff:.1e} at most"
    )
    return model.forward_raw(images)


def report_differences(names: Sequence[str], theirs: Sequence[Tensor], ours: Sequence[Tensor]):
    worst = 0.0
    for name, a, b in zip(names, theirs, ours):
        if a.shape != b.shape:
            raise AssertionError(f"{name}: shapes {tuple(a.shape)} vs {tuple(b.shape)}")
        diff = (a - b).abs().max().item()
        worst = max(worst, diff)
        print(f"  {name:8s} {tuple(a.shape)}  |a| max {a.abs().max().item():9.4f}  diff {diff:.3e}")
    verdict = "OK" if worst <= REQUIRED_MAX_DIFF else "FAIL"
    print(f"  max abs diff {worst:.3e} (required <= {REQUIRED_MAX_DIFF:g}): {verdict}")
    return worst <= REQUIRED_MAX_DIFF


def compare_detections(
    theirs: List[Tuple[int, Tuple[float, ...], float]],
    ours: List[Tuple[int, Tuple[float, ...], float]],
    tolerance: float = 1e-3,
) -> Tuple[int, list, list]:
    """Match ``(class, box, score)`` detections one to one (same class, box coordinates and
    score within ``tolerance``); returns the number matched and the unmatched of each side."""
    unmatched_ours = list(ours)
    only_theirs = []
    matched = 0
    for cls, box, score in theirs:
        for i, (c, b, s) in enumerate(unmatched_ours):
            close_box = max(abs(u - v) for u, v in zip(box, b)) <= tolerance
            if c == cls and close_box and abs(s - score) <= tolerance:
                del unmatched_ours[i]
                matched += 1
                break
        else:
            only_theirs.append((cls, box, score))
    return matched, only_theirs, unmatched_ours


def as_rows(boxes: Tensor, scores: Tensor, classes: Tensor):
    return [
        (int(c), tuple(float(v) for v in b), float(s))
        for b, s, c in zip(boxes.tolist(), scores.tolist(), classes.tolist())
    ]


def describe_unmatched(title: str, rows, limit: int = 5) -> None:
    print(f"  {title}: {len(rows)}")
    for cls, box, score in rows[:limit]:
        print(f"    class {cls} box {tuple(round(v, 3) for v in box)} score {score:.5f}")


def plant_corner_pairs(
    outputs: Sequence[Tensor], num_pairs: int, rng: np.random.Generator
) -> List[Tensor]:
    """
    Copies of CornerNet's ``(tl_heat, br_heat, tl_tag, br_tag, tl_regr, br_regr)`` with
    ``num_pairs`` objects added: a random class and box of at least 2 cells, logit
    ``PLANTED_LOGIT`` at its two corner cells, one random embedding at both.
    """
    planted = [t.clone() for t in outputs]
    tl_heat, br_heat, tl_tag, br_tag = planted[:4]
    _, num_classes, height, width = tl_heat.shape
    for _ in range(num_pairs):
        cls = int(rng.integers(num_classes))
        x1, y1 = int(rng.integers(width - 2)), int(rng.integers(height - 2))
        x2, y2 = int(rng.integers(x1 + 2, width)), int(rng.integers(y1 + 2, height))
        tl_heat[0, cls, y1, x1] = br_heat[0, cls, y2, x2] = PLANTED_LOGIT
        tl_tag[0, 0, y1, x1] = br_tag[0, 0, y2, x2] = float(rng.normal())
    return planted


def compare_cornernet_decoding(title: str, outputs: Sequence[Tensor], kp_utils, model) -> None:
    """CornerNet's ``_decode`` (its test settings) and ours on the same ``outputs``, in
    output-grid cells."""
    with torch.no_grad():
        # test/coco.py kp_decode: K=100, ae_threshold=0.5, kernel=3 (and num_dets=1000).
        detections = kp_utils._decode(*outputs, K=100, kernel=3, ae_threshold=0.5)[0]
    probs = model._with_probs(CornerPredictions(*outputs))
    (candidates,) = model.postprocessor.decode(probs, model.stride)
    valid = detections[:, 4] > -1
    their_rows = as_rows(detections[valid, :4], detections[valid, 4], detections[valid, 7].long())
    our_rows = as_rows(candidates.boxes / model.stride, candidates.scores, candidates.classes)
    matched, only_theirs, only_ours = compare_detections(their_rows, our_rows)
    print(
        f"  decoded pairs, {title}: original {len(their_rows)} valid of 1000, ours "
        f"{len(our_rows)}; matched {matched}"
    )
    describe_unmatched("only in the original's", only_theirs)
    describe_unmatched("only in ours", only_ours)
    # The original rejects br < tl, ours br <= tl (strictly below and right).
    degenerate = [r for r in only_theirs if r[1][2] == r[1][0] or r[1][3] == r[1][1]]
    print(f"  of the original's unmatched, zero width or height (br == tl): {len(degenerate)}")
    # Ours scores corners by the probability clamped to [1e-4, 1 - 1e-4].
    heats = torch.cat([outputs[0].flatten(), outputs[1].flatten()]).sigmoid()
    clamped = int(((heats < PROB_CLAMP) | (heats > 1 - PROB_CLAMP)).sum())
    print(f"  heatmap cells whose probability our clamp changes: {clamped}")


def check_cornernet(root: str, workdir: str, size: int) -> bool:
    print(f"== CornerNet Hourglass-104 ({root})")
    cornernet, kp_utils = import_cornernet(root)
    net = cornernet.model(None)
    image = bgr_image(size, size, seed=1)
    x = original_input(image)
    # kp._test ends with self._decode(*outputs of the last stack): return them instead.
    net._decode = lambda *outputs, **kwargs: outputs
    output_convs = [
        (net.tl_heats[-1][-1], *HEATMAP_LOGITS),
        (net.br_heats[-1][-1], *HEATMAP_LOGITS),
    ]
    output_convs += [(net.tl_tags[-1][-1], *EMBEDDINGS), (net.br_tags[-1][-1], *EMBEDDINGS)]
    randomize(net, calibration_images(size), lambda n, inp: n(inp), 0)
    standardize_outputs(net, x, lambda n, inp: n(inp), output_convs)
    with torch.no_grad():
        theirs = [t.clone() for t in net(x)]
    forget_package("models", os.path.abspath(root))
    path = os.path.join(workdir, "CornerNet_random.pkl")
    # nnet/py_factory.py save_params: the state dict of the model wrapped in DummyModule.
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, path)
    print(f"  input: original {tuple(x.shape)}; saved {path}")

    model = our_model("configs/CornerNet/cornernet_hourglass104.py", path, "cornernet")
    outputs = our_outputs(model, image, x)
    names = ["tl_heat", "br_heat", "tl_tag", "br_tag", "tl_regr", "br_regr"]
    ok = report_differences(
        names,
        theirs,
        [
            outputs.tl_heatmap,
            outputs.br_heatmap,
            outputs.tl_embedding,
            outputs.br_embedding,
            outputs.tl_offset,
            outputs.br_offset,
        ],
    )

    # Decodings of the same (original) outputs; then of those outputs with corner pairs planted,
    # as random heads put their top top-left corners anywhere, bottom-right ones too.
    compare_cornernet_decoding("the network's outputs", theirs, kp_utils, model)
    planted = plant_corner_pairs(theirs, PLANTED_PAIRS, np.random.default_rng(3))
    compare_cornernet_decoding(f"{PLANTED_PAIRS} corner pairs planted", planted, kp_utils, model)
    return ok


def check_centernet(root: str, workdir: str, size: int) -> bool:
    print(f"== CenterNet Hourglass-104 ({root})")
    large_hourglass = import_centernet_network(root, "large_hourglass")
    decode = importlib.import_module("models.decode")
    # opts.py for ctdet: heads hm (classes), wh (2), reg (2); head_conv is unused by it.
    net = large_hourglass.get_large_hourglass_net(0, {"hm": 80, "wh": 2, "reg": 2}, 64)
    image = bgr_image(size, size, seed=2)
    x = original_input(image)
    output_convs = [(net.hm[-1][-1], *HEATMAP_LOGITS)]
    randomize(net, calibration_images(size), lambda n, inp: n(inp), 0)
    standardize_outputs(net, x, lambda n, inp: n(inp), output_convs)
    with torch.no_grad():
        last = net(x)[-1]  # ctdet's test decodes the last stack
        theirs = [last["hm"].clone(), last["wh"].clone(), last["reg"].clone()]
        detections = decode.ctdet_decode(theirs[0].sigmoid(), theirs[1], reg=theirs[2], K=100)
    detections = detections[0]
    forget_package("models", os.path.join(os.path.abspath(root), "src", "lib"))
    path = os.path.join(workdir, "ctdet_coco_hg_random.pth")
    # CenterNet's save_model: {"epoch", "state_dict"} of the unwrapped model.
    torch.save({"epoch": 1, "state_dict": net.state_dict()}, path)
    print(f"  input: {tuple(x.shape)}; saved {path}")

    model = our_model("configs/CenterNet/centernet_hourglass104.py", path, "centernet")
    outputs = our_outputs(model, image, x)
    ok = report_differences(["hm", "wh", "reg"], theirs, list(outputs))

    same = type(outputs)(*theirs)
    boxes, peaks = model.postprocessor.peak_boxes(
        model.heatmap_probs(same.heatmap), same.wh, same.offset, model.stride
    )
    their_rows = as_rows(detections[:, :4], detections[:, 4], detections[:, 5].long())
    our_rows = as_rows(boxes[0] / model.stride, peaks.scores[0], peaks.classes[0])
    matched, only_theirs, only_ours = compare_detections(their_rows, our_rows)
    print(f"  decoded peaks: original {len(their_rows)}, ours {len(our_rows)}; matched {matched}")
    describe_unmatched("only in the original's", only_theirs)
    describe_unmatched("only in ours", only_ours)
    # Ours clamps a negative predicted w or h to 0; the original's box is then inverted.
    inverted = [r for r in only_theirs if r[1][2] < r[1][0] or r[1][3] < r[1][1]]
    print(f"  of the original's unmatched, inverted (negative w or h): {len(inverted)}")
    # Our peaks with the original's unclamped boxes: what is left is not the clamp.
    wh = gather_at(same.wh, peaks.ys, peaks.xs)[0]
    offset = gather_at(same.offset, peaks.ys, peaks.xs)[0]
    cx, cy = peaks.xs[0] + offset[:, 0], peaks.ys[0] + offset[:, 1]
    unclamped = torch.stack(
        [cx - wh[:, 0] / 2, cy - wh[:, 1] / 2, cx + wh[:, 0] / 2, cy + wh[:, 1] / 2], dim=1
    )
    matched, only_theirs, only_ours = compare_detections(
        their_rows, as_rows(unclamped, peaks.scores[0], peaks.classes[0])
    )
    print(
        f"  with our peaks and unclamped sizes: matched {matched}, only in the original's "
        f"{len(only_theirs)}, only in ours {len(only_ours)}"
    )
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cornernet", help="checkout of princeton-vl/CornerNet")
    parser.add_argument("--centernet", help="checkout of xingyizhou/CenterNet")
    parser.add_argument("--workdir", help="where the random checkpoints go (default: a tempdir)")
    parser.add_argument(
        "--cornernet-size",
        type=int,
        default=511,
        help="CornerNet's test input: (h | 127) for an image of height h, 511 for 511",
    )
    parser.add_argument(
        "--centernet-size",
        type=int,
        default=512,
        help="CenterNet's test input: 512 (fixed-resolution test), (h | 127) + 1 otherwise",
    )
    args = parser.parse_args(argv)
    if not (args.cornernet or args.centernet):
        parser.error("give --cornernet and/or --centernet")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        results = []
        if args.cornernet:
            results.append(check_cornernet(args.cornernet, workdir, args.cornernet_size))
        if args.centernet:
            results.append(check_centernet(args.centernet, workdir, args.centernet_size))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
