"""
By hand, not in CI: :mod:`anchorfree.modeling.original_test` against the originals' own test
code, run from checkouts of their sources.

* CenterNet (xingyizhou/CenterNet): ``BaseDetector.pre_process`` against our inputs (every
  element, the flipped batch too), ``CtdetDetector.post_process`` (``transform_preds``) against
  our back-mapping on random boxes, and ``CtdetDetector.run`` end to end against
  :class:`OriginalTestPipeline` with this project's ``CenterNet.decode_cells``, both around one
  stand-in network (fixed random weights; the same maps on both sides), at single and multiple
  scales, with the flip test, ``fix_res`` and ``keep_res`` (pad 31 and 127).
* CornerNet (princeton-vl/CornerNet): ``test/coco.py``'s ``kp_detection`` end to end (its
  inputs, its ``_decode`` on the stand-in network's maps, back-mapping, soft-NMS, top 100)
  against the pipeline with ``CornerNet.decode_cells``, single and multi-scale; and
  ``_rescale_dets`` against our back-mapping on random boxes.

Images of odd sizes (375 x 500, 333 x 517, 200 x 249), random pixels. The merges with soft-NMS
call the originals' compiled ``external/nms`` (build it in each checkout: ``cd
src/lib/external`` or ``external``, ``python setup.py build_ext --inplace``, with Cython);
without it those cases are skipped. ``--soft-nms KEY=VALUE`` passes options to this project's
``batched_soft_nms`` in the merge (e.g. the original's conventions where it has them);
``--original-soft-nms`` runs the original's compiled one in our merge instead, which leaves the
differences of everything else.

    python tools/parity/check_test_pipeline.py --centernet /tmp/cn --cornernet /tmp/corner
"""

import argparse
import ast
import importlib
import importlib.util
import os
import sys
import tempfile
import types

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from anchorfree.centernet import CenterNet, CenterNetOutputs, CenterNetPostprocessor
from anchorfree.cornernet import CornerNet, CornerNetPostprocessor
from anchorfree.cornernet.head import CornerPredictions
from anchorfree.modeling import original_test
from anchorfree.modeling.heatmap_detector import HeatmapDetector
from anchorfree.modeling.original_test import (
    CenterNetInputTransform,
    CornerNetInputTransform,
    OriginalTestPipeline,
)
from anchorfree.modeling.soft_nms import batched_soft_nms
from anchorfree.modeling.test_time_augmentation import flipped_batch

from .reference_ops import stub_module

MEAN = [0.40789654, 0.44719302, 0.47026115]
STD = [0.28863828, 0.27408164, 0.27809835]
IMAGE_SIZES = [(375, 500), (333, 517), (200, 249)]
NUM_CLASSES = 80
# Top-level package names of the two checkouts, which collide (utils, models, external).
CHECKOUT_PACKAGES = {"utils", "models", "external", "detectors", "config", "db", "progress"}


def forget_checkout(root: str) -> None:
    """Drop a checkout's modules and path so that the other's ``utils`` etc. import."""
    for name in list(sys.modules):
        if name.split(".")[0] in CHECKOUT_PACKAGES:
            del sys.modules[name]
    if root in sys.path:
        sys.path.remove(root)


class StandInNetwork(nn.Module):
    """Stride-4 maps from an image batch (``ceil(side / 4)`` cells: CornerNet's
    ``(side | 127 + 1) / 4`` too), fixed random weights. ``maps``: name -> (channels, scale,
    shift, bounded): maps of about unit spread (through ``tanh`` where ``bounded``), times
    ``scale``, plus ``shift`` (a number, or one per channel): heatmap logits mostly low with a
    few peaks, sizes positive, offsets about [0, 1].

    The input is made contiguous first: the originals' batches are numpy transposes, laid out
    channels-last in memory, for which PyTorch picks other convolution kernels (results that
    differ in the last bit); the comparison is of the pipelines, not of those kernels."""

    def __init__(self, maps: dict, seed: int):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.maps = maps
        total = sum(spec[0] for spec in maps.values())
        self.mix = nn.Conv2d(3, 16, 3, padding=1)
        self.out = nn.Conv2d(16, total, 3, padding=1)
        with torch.no_grad():
            for conv in (self.mix, self.out):
                fan_in = conv.weight[0].numel()
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator))
                conv.weight /= fan_in**0.5
                conv.bias.zero_()

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> dict:
        x = F.avg_pool2d(images.contiguous(), 4, 4, ceil_mode=True)
        raw = self.out(torch.relu(self.mix(x)))
        raw = (raw - raw.mean()) / raw.std()
        # A pattern over the cells, so that the constant padding gives no plateaus of equal
        # scores (whose top-K order is torch.topk's tie-breaking, not the pipeline's).
        ys = torch.arange(raw.shape[2], dtype=raw.dtype)[:, None]
        xs = torch.arange(raw.shape[3], dtype=raw.dtype)[None, :]
        phases = torch.arange(raw.shape[1], dtype=raw.dtype)[:, None, None]
        raw = raw + 0.3 * torch.sin(0.37 * xs + 0.73 * ys + phases)
        parts = raw.split([spec[0] for spec in self.maps.values()], dim=1)
        maps = {}
        for (name, (_, scale, shift, bounded)), part in zip(self.maps.items(), parts):
            shift = torch.as_tensor(shift, dtype=part.dtype).reshape(1, -1, 1, 1)
            maps[name] = (torch.tanh(part) if bounded else part) * scale + shift
        return maps


class CenterNetStandIn:
    """This project's CenterNet decoding (``decode_cells``) around the stand-in network."""

    device = torch.device("cpu")
    training = False
    clamp_test_probs = False
    prob_clamp = 1e-4
    heatmap_probs = HeatmapDetector.heatmap_probs
    decode_cells = CenterNet.decode_cells

    def __init__(self, network: StandInNetwork):
        self.network = network
        self.postprocessor = CenterNetPostprocessor(topk=100, clamp_sizes=False)
        self.inputs = []

    def forward_raw(self, images, *, flip):
        if flip:
            images = flipped_batch(images, padded=True)
        self.inputs.append(images.tensor.clone())
        m = self.network(images.tensor)
        return CenterNetOutputs(m["hm"], m["wh"], m["reg"])


class CornerNetStandIn:
    """This project's CornerNet decoding (``decode_cells``) around the stand-in network."""

    device = torch.device("cpu")
    training = False
    clamp_test_probs = False
    prob_clamp = 1e-4
    heatmap_probs = HeatmapDetector.heatmap_probs
    _with_probs = CornerNet._with_probs
    decode_cells = CornerNet.decode_cells

    def __init__(self, network: StandInNetwork):
        self.network = network
        self.postprocessor = CornerNetPostprocessor(
            topk=100, peak_kernel=3, embedding_thresh=0.5, max_candidates=1000
        )
        self.inputs = []

    def forward_raw(self, images, *, flip):
        if flip:
            images = flipped_batch(images, padded=False)
        self.inputs.append(images.tensor.clone())
        m = self.network(images.tensor)
        return CornerPredictions(
            m["tl_heat"], m["br_heat"], m["tl_tag"], m["br_tag"], m["tl_regr"], m["br_regr"]
        )


def random_image(height, width, seed):
    return np.random.RandomState(seed).randint(0, 256, (height, width, 3)).astype(np.uint8)


def as_input(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).float()


def compare_inputs(name, ours, theirs):
    """Report whether two lists of network inputs are equal element for element."""
    same = len(ours) == len(theirs) and all(
        a.shape == b.shape and torch.equal(a, b) for a, b in zip(ours, theirs)
    )
    worst = max(
        ((a - b).abs().max().item() if a.shape == b.shape else float("inf"))
        for a, b in zip(ours, theirs)
    )
    print(f"  {name}: network inputs identical: {same} (max abs diff {worst:.3g})")
    return same


def compare_detections(name, ours, theirs: dict):
    """Our ``Instances`` against the original's ``{class + 1: [n, 5]}``, class by class, rows
    sorted; prints counts, exact equality and the largest difference."""
    boxes = ours.pred_boxes.tensor.numpy()
    scores = ours.scores.numpy()
    classes = ours.pred_classes.numpy()
    exact, worst, count, common = True, 0.0, 0, 0
    for j in range(1, NUM_CLASSES + 1):
        mine = np.concatenate([boxes[classes == j - 1], scores[classes == j - 1, None]], 1)
        other = np.asarray(theirs[j], dtype=np.float32).reshape(-1, 5)[:, :5]
        count += len(other)
        common += len({tuple(r) for r in mine.tolist()} & {tuple(r) for r in other.tolist()})
        if len(mine) != len(other):
            exact = False
            worst = float("inf")
            continue
        key = lambda rows: rows[np.lexsort(rows.T[::-1])]  # noqa: E731
        mine, other = key(mine), key(other)
        exact &= np.array_equal(mine, other)
        if len(mine):
            worst = max(worst, float(np.abs(mine - other).max()))
    print(
        f"  {name}: {len(scores)} detections vs the original's {count}, {common} the same; "
        f"identical: {exact} (max abs diff {worst:.3g})"
    )
    return exact


def original_soft_nms_adapter(soft_nms_function, method_codes):
    """A stand-in for ``batched_soft_nms`` that runs an original's compiled ``soft_nms`` per
    class, as its test code calls it (in place, its return value unused: every box stays, with
    its decayed score): with it, our merge differs from the original's only where the rest of
    the pipeline does."""

    def batched(boxes, scores, classes, *, method, sigma=0.5, iou_threshold=0.3,
                score_threshold=0.001, max_detections=None):  # fmt: skip
        keep, new_scores = [], []
        for cls in classes.unique().tolist():
            index = (classes == cls).nonzero().flatten()
            rows = torch.cat([boxes[index], scores[index, None]], 1).numpy().astype(np.float32)
            where = {tuple(row[:4].tolist()): i for row, i in zip(rows, index.tolist())}
            soft_nms_function(
                rows, sigma=sigma, Nt=iou_threshold, threshold=score_threshold,
                method=method_codes[method],
            )  # fmt: skip
            keep.extend(where[tuple(row[:4].tolist())] for row in rows)
            new_scores.extend(rows[:, 4].tolist())
        return torch.tensor(keep, dtype=torch.long), torch.tensor(new_scores)

    return batched


def parse_soft_nms(options):
    parsed = {}
    for option in options:
        key, value = option.split("=", 1)
        parsed[key] = ast.literal_eval(value)
    return parsed


def check_centernet(root: str, soft_nms: dict, with_original_soft_nms: bool) -> bool:
    lib = os.path.join(os.path.abspath(root), "src", "lib")
    sys.path.insert(0, lib)
    stub_module("progress", __path__=[])
    stub_module("progress.bar", Bar=object)
    stub_module("models.model", create_model=None, load_model=None)
    stub_module("utils.debugger", Debugger=lambda **kwargs: None)
    ctdet = importlib.import_module("detectors.ctdet")
    has_nms = hasattr(ctdet, "soft_nms")
    print(f"CenterNet ({root}); compiled soft-NMS: {has_nms}")
    if has_nms and with_original_soft_nms:
        original_test.batched_soft_nms = original_soft_nms_adapter(ctdet.soft_nms, {"gaussian": 2})
    network = StandInNetwork(
        {
            "hm": (NUM_CLASSES, 1.0, -3.0, False),
            "wh": (2, 6.0, 14.0, True),
            "reg": (2, 0.5, 0.5, True),
        },
        seed=1,
    )
    ok = True
    for keep_res, pad in [(False, 31), (True, 31), (True, 127)]:
        for scales in ([1.0], [0.5], [1.5], [0.5, 1.0, 1.5]):
            if len(scales) > 1 and not has_nms:
                continue
            for seed, (height, width) in enumerate(IMAGE_SIZES):
                image = random_image(height, width, seed)
                opt = types.SimpleNamespace(
                    fix_res=not keep_res, keep_res=keep_res, input_h=512, input_w=512, pad=pad,
                    flip_test=True, down_ratio=4, device=torch.device("cpu"), reg_offset=True,
                    cat_spec_wh=False, K=100, debug=0, dataset="coco", debugger_theme="white",
                    num_classes=NUM_CLASSES, nms=False, test_scales=scales,
                )  # fmt: skip
                theirs = ctdet.CtdetDetector.__new__(ctdet.CtdetDetector)
                original_inputs = []

                def model(images, _inputs=original_inputs):
                    _inputs.append(images.clone())
                    return [network(images)]

                theirs.model, theirs.opt, theirs.scales = model, opt, scales
                theirs.mean = np.array(MEAN, dtype=np.float32).reshape(1, 1, 3)
                theirs.std = np.array(STD, dtype=np.float32).reshape(1, 1, 3)
                theirs.max_per_image, theirs.num_classes, theirs.pause = 100, NUM_CLASSES, False
                expected = theirs.run(image)["results"]

                ours = CenterNetStandIn(network)
                pipeline = OriginalTestPipeline(
                    input_transform=CenterNetInputTransform(
                        input_size=None if keep_res else 512, pad=pad
                    ),
                    pixel_mean=MEAN,
                    pixel_std=STD,
                    soft_nms=dict(
                        dict(method="gaussian", sigma=0.5, score_threshold=0.001), **soft_nms
                    ),
                    suppress_single_scale=False,
                )
                found = pipeline(ours, as_input(image), scales, True)
                name = f"{height}x{width} keep_res={keep_res} pad={pad} scales={scales}"
                ok &= compare_inputs(name, ours.inputs, original_inputs)
                ok &= compare_detections(name, found, expected)
                if len(scales) == 1:
                    ok &= check_transform_preds(ctdet, theirs, pipeline, image, scales[0], name)
    original_test.batched_soft_nms = batched_soft_nms
    forget_checkout(lib)
    return ok


def check_transform_preds(ctdet, theirs, pipeline, image, scale, name) -> bool:
    """``CtdetDetector.post_process`` (``transform_preds``, then / scale) against our
    back-mapping, on 1000 random boxes in output cells (inside and outside the map)."""
    _, meta = ctdet.BaseDetector.pre_process(theirs, image, scale)
    rng = np.random.RandomState(0)
    cells = np.zeros((1, 1000, 6), dtype=np.float32)
    cells[0, :, :4] = rng.uniform(-10, meta["out_width"] + 10, (1000, 4))
    cells[0, :, 4] = rng.uniform(0, 1, 1000)
    cells[0, :, 5] = 0  # one class: the rows keep their order
    expected = ctdet.CtdetDetector.post_process(theirs, torch.from_numpy(cells), meta, scale)[1]
    _, prepared = pipeline.prepare(image, scale)
    mapped = prepared.to_image(torch.from_numpy(cells[0, :, :4])).numpy()
    same = np.array_equal(mapped, expected[:, :4])
    diff = np.abs(mapped - expected[:, :4]).max()
    print(f"  {name}: back-mapping identical to transform_preds: {same} (max abs diff {diff:.3g})")
    return same


def check_cornernet(root: str, soft_nms: dict, with_original_soft_nms: bool) -> bool:
    root = os.path.abspath(root)
    sys.path.insert(0, root)
    stub_module(
        "models.py_utils._cpools", TopPool=None, BottomPool=None, LeftPool=None, RightPool=None
    )
    kp_utils = importlib.import_module("models.py_utils.kp_utils")
    try:
        importlib.import_module("external.nms")
        has_nms = True
    except ImportError:
        has_nms = False
    print(f"CornerNet ({root}); compiled soft-NMS: {has_nms}")
    if has_nms and with_original_soft_nms:
        nms = importlib.import_module("external.nms")
        original_test.batched_soft_nms = original_soft_nms_adapter(nms.soft_nms, {"gaussian": 2})
    if not has_nms:
        print("  skipped: kp_detection always calls soft_nms")
        forget_checkout(root)
        return True
    spec = importlib.util.spec_from_file_location(
        "cornernet_test_coco", os.path.join(root, "test", "coco.py")
    )
    coco_test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(coco_test)
    few_classes = [-1.0] * 3 + [-6.0] * (NUM_CLASSES - 3)
    network = StandInNetwork(
        # Three classes score high, so that corners pair up.
        {"tl_heat": (NUM_CLASSES, 1.0, few_classes, False),
         "br_heat": (NUM_CLASSES, 1.0, few_classes, False),
         "tl_tag": (1, 0.3, 0.0, True), "br_tag": (1, 0.3, 0.0, True),
         "tl_regr": (2, 0.5, 0.5, True), "br_regr": (2, 0.5, 0.5, True)},
        seed=2,
    )  # fmt: skip
    ok = True
    with tempfile.TemporaryDirectory() as workdir:
        files = []
        for seed, (height, width) in enumerate(IMAGE_SIZES):
            files.append(os.path.join(workdir, f"{seed}.png"))
            cv2.imwrite(files[-1], random_image(height, width, seed))
        for scales in ([1], [0.5, 0.75, 1, 1.25, 1.5]):
            original_inputs = []
            results = {}

            def decode(nnet, images, K, ae_threshold=0.5, kernel=3, _inputs=original_inputs):
                _inputs.append(images.clone())
                m = network(images)
                detections = kp_utils._decode(
                    m["tl_heat"], m["br_heat"], m["tl_tag"], m["br_tag"], m["tl_regr"],
                    m["br_regr"], K=K, kernel=kernel, ae_threshold=ae_threshold, num_dets=1000,
                )  # fmt: skip
                return detections.numpy()

            db = types.SimpleNamespace(
                split="minival",
                db_inds=np.arange(len(files)),
                configs=dict(
                    top_k=100, ae_threshold=0.5, nms_kernel=3, test_scales=scales,
                    weight_exp=8, merge_bbox=False, categories=NUM_CLASSES, nms_threshold=0.5,
                    max_per_image=100, nms_algorithm="exp_soft_nms",
                ),
                mean=np.array(MEAN, dtype=np.float32),
                std=np.array(STD, dtype=np.float32),
                image_ids=lambda ind: ind,
                image_file=lambda ind: files[ind],
                convert_to_coco=lambda top_bboxes: results.update(top_bboxes) or [],
                evaluate=lambda *args: None,
            )  # fmt: skip
            coco_test.kp_detection(db, None, workdir, decode_func=decode)

            pipeline = OriginalTestPipeline(
                input_transform=CornerNetInputTransform(),
                pixel_mean=MEAN,
                pixel_std=STD,
                soft_nms=dict(
                    dict(method="gaussian", sigma=0.5, iou_threshold=0.5, score_threshold=0.001),
                    **soft_nms,
                ),
                suppress_single_scale=True,
            )
            ours = CornerNetStandIn(network)
            for index, path in enumerate(files):
                image = cv2.imread(path)
                found = pipeline(ours, as_input(image), scales, True)
                name = f"{image.shape[0]}x{image.shape[1]} scales={scales}"
                ok &= compare_detections(name, found, results[index])
                if scales == [1]:
                    ok &= check_rescale_dets(coco_test, pipeline, image, name)
            ok &= compare_inputs(f"all images, scales={scales}", ours.inputs, original_inputs)
    original_test.batched_soft_nms = batched_soft_nms
    forget_checkout(root)
    return ok


def check_rescale_dets(coco_test, pipeline, image, name) -> bool:
    """``_rescale_dets`` (then / scale) against our back-mapping on 1000 random boxes."""
    height, width = image.shape[:2]
    input_height, input_width = height | 127, width | 127
    out_height, out_width = (input_height + 1) // 4, (input_width + 1) // 4
    _, border, _ = coco_test.crop_image(
        cv2.resize(image, (width, height)), np.array([height // 2, width // 2]),
        [input_height, input_width],
    )  # fmt: skip
    rng = np.random.RandomState(0)
    dets = rng.uniform(-10, out_width + 10, (1, 1000, 8)).astype(np.float32)
    boxes = torch.from_numpy(dets[0, :, :4].copy())
    ratios = np.array([[out_height / input_height, out_width / input_width]], dtype=np.float32)
    sizes = np.array([[height, width]], dtype=np.float32)
    coco_test._rescale_dets(dets, ratios, border[None], sizes)
    _, prepared = pipeline.prepare(image, 1.0)
    mapped = prepared.to_image(boxes).numpy()
    same = np.array_equal(mapped, dets[0, :, :4])
    diff = np.abs(mapped - dets[0, :, :4]).max()
    print(f"  {name}: back-mapping identical to _rescale_dets: {same} (max abs diff {diff:.3g})")
    return same


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--centernet", help="checkout of xingyizhou/CenterNet")
    parser.add_argument("--cornernet", help="checkout of princeton-vl/CornerNet")
    parser.add_argument(
        "--soft-nms",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of batched_soft_nms for the merges (repeatable)",
    )
    parser.add_argument(
        "--original-soft-nms",
        action="store_true",
        help="run the originals' compiled soft_nms inside our merge instead of this project's "
        "batched_soft_nms: what is left are differences of the rest of the pipeline",
    )
    args = parser.parse_args()
    if not (args.centernet or args.cornernet):
        parser.error("give --centernet and/or --cornernet")
    torch.cuda.synchronize = lambda *a, **k: None  # the originals time with it; CPU here
    soft_nms = parse_soft_nms(args.soft_nms)
    ok = True
    if args.centernet:
        ok &= check_centernet(args.centernet, dict(soft_nms), args.original_soft_nms)
    if args.cornernet:
        ok &= check_cornernet(args.cornernet, dict(soft_nms), args.original_soft_nms)
    print("ALL IDENTICAL" if ok else "DIFFERENCES FOUND")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
