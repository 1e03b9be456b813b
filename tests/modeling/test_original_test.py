"""anchorfree.modeling.original_test, the originals' test pipelines: the affine matrices and the
back-mappings on hand cases, the inputs (where they are copies of the image), the merge, the
pipeline around stand-in and real detectors, the config fragments, and the export's refusal.
The expected values are derived by hand in the comments."""

import importlib.util
import os

import numpy as np
import pytest
import torch

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
from anchorfree.centernet import CenterNetOutputs
from anchorfree.config import load_config
from anchorfree.cornernet.head import CornerPredictions
from anchorfree.export.graph import ExportableDetector
from anchorfree.modeling.original_test import (
    CenterNetInputTransform,
    CornerNetInputTransform,
    OriginalTestPipeline,
    affine_matrix,
    merge_original,
    normalized_input,
    top_by_threshold,
)
from anchorfree.modeling.test_time_augmentation import Detections

from detectron2.config import instantiate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEAN = [0.40789654, 0.44719302, 0.47026115]
STD = [0.28863828, 0.27408164, 0.27809835]


def config_fragment(detector):
    """The config fragment configs/<detector>/common/original.py as a module (a config
    imports it relatively, which LazyConfig resolves; it has no relative imports itself)."""
    path = os.path.join(REPO, "configs", detector, "common", "original.py")
    spec = importlib.util.spec_from_file_location(f"{detector}_original_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_image(height, width, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (height, width, 3)).astype(np.uint8)


def test_affine_matrix_fixed_input():
    # A 200 x 100 image about its centre (100, 50) into 512 x 512: the width 200 becomes 512,
    # x 2.56; the centre goes to (256, 256): x' = 2.56 x + 256 - 256, y' = 2.56 y + 256 - 128.
    m = affine_matrix([100, 50], [200, 200], (512, 512))
    np.testing.assert_allclose(m, [[2.56, 0, 0], [0, 2.56, 128]], atol=1e-12)
    # Back from the 128 x 128 output: x 200/128 = 1.5625, (64, 64) -> (100, 50).
    back = affine_matrix([100, 50], [200, 200], (128, 128), inverse=True)
    np.testing.assert_allclose(back, [[1.5625, 0, 0], [0, 1.5625, -50]], atol=1e-12)


def test_affine_matrix_uses_the_width_only():
    # Size (512, 384) into (512, 384): x 1 both ways (the height plays no part), centre
    # (250, 187) -> (256, 192): a translation by (6, 5).
    m = affine_matrix([250, 187], [512, 384], (512, 384))
    np.testing.assert_allclose(m, [[1, 0, 6], [0, 1, 5]], atol=1e-12)
    # A height given differently changes nothing.
    np.testing.assert_array_equal(m, affine_matrix([250, 187], [512, 1], (512, 384)))


def test_centernet_fixed_input_at_scale_half_keeps_the_unscaled_fit():
    # 200 x 100 at scale 0.5: resized to 100 x 50, centre (50, 25), but the size that fits 512
    # is the unscaled longer side, 200: x 2.56, centre -> (256, 256), so x' = 2.56 x + 128.
    image = np.full((100, 200, 3), 200, dtype=np.uint8)
    prepared = CenterNetInputTransform(input_size=512)(image, 0.5)
    assert prepared.image.shape == (512, 512, 3)
    # Columns 128 .. 128 + 256 and rows 192 .. 192 + 128 hold the image (bilinear: blended
    # with black up to 2.56 pixels outside); the rest is black.
    assert prepared.image[:, :125].max() == 0 and prepared.image[:, 388:].max() == 0
    assert prepared.image[:189].max() == 0 and prepared.image[323:].max() == 0
    assert (prepared.image[195:317, 131:381] == 200).all()
    # Output cell (x, y) -> the resized image: 4 (x, y) = 2.56 p + (128, 192); then / 0.5.
    boxes = torch.tensor([[32.0, 48.0, 96.0, 80.0]])
    expected = torch.tensor([[0.0, 0.0, 200.0, 100.0]])
    torch.testing.assert_close(prepared.to_image(boxes), expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("pad, size", [(31, (384, 512)), (127, (384, 512))])
def test_centernet_keep_res_translates_the_image(pad, size):
    # 375 x 500: (375 | 31) + 1 = 384, (500 | 31) + 1 = 512 (the same with 127); centre
    # (500 // 2, 375 // 2) = (250, 187) -> (256, 192): the image shifted by (6, 5), exactly.
    image = random_image(375, 500)
    prepared = CenterNetInputTransform(input_size=None, pad=pad)(image, 1.0)
    assert prepared.image.shape[:2] == size
    np.testing.assert_array_equal(prepared.image[5:380, 6:506], image)
    assert prepared.image.astype(np.int64).sum() == image.astype(np.int64).sum()
    # Output cells x 4, less the shift: (10, 20, 30, 40) -> (34, 75, 114, 155); not clipped.
    boxes = torch.tensor([[10.0, 20.0, 30.0, 40.0], [-1.0, 0.0, 130.0, 100.0]])
    expected = torch.tensor([[34.0, 75.0, 114.0, 155.0], [-10.0, -5.0, 514.0, 395.0]])
    torch.testing.assert_close(prepared.to_image(boxes), expected, rtol=0, atol=1e-4)


def test_cornernet_input_centres_the_image_and_maps_back_with_its_clip():
    # 375 x 500: the canvas is (375 | 127) x (500 | 127) = 383 x 511, centre (191, 255); the
    # image's centre (187, 250) goes there: rows 4 .. 379, columns 5 .. 505.
    image = random_image(375, 500)
    prepared = CornerNetInputTransform()(image, 1.0)
    assert prepared.image.shape[:2] == (383, 511)
    np.testing.assert_array_equal(prepared.image[4:379, 5:505], image)
    assert prepared.image.astype(np.int64).sum() == image.astype(np.int64).sum()
    # Output 96 x 128 cells ((383 + 1) / 4, (511 + 1) / 4): x -> x * 511 / 128 - 5,
    # y -> y * 383 / 96 - 4, clipped to [0, 500] x [0, 375].
    boxes = torch.tensor([[10.0, 20.0, 130.0, 140.0], [2.0, 0.0, 3.0, 2.0]])
    expected = torch.tensor(
        [
            [10 * 511 / 128 - 5, 20 * 383 / 96 - 4, 500, 375],
            [2 * 511 / 128 - 5, 0, 3 * 511 / 128 - 5, 2 * 383 / 96 - 4],
        ]
    )
    torch.testing.assert_close(prepared.to_image(boxes), expected.float(), rtol=0, atol=1e-4)


def test_cornernet_scale_divides_after_the_clip():
    # Scale 0.5 of 375 x 500: int(187.5) x 250 = 187 x 250, canvas 255 x 255, output 64 x 64;
    # the image at rows 127 - 93 = 34 .. 221, columns 127 - 125 = 2 .. 252.
    image = random_image(375, 500)
    prepared = CornerNetInputTransform()(image, 0.5)
    assert prepared.image.shape[:2] == (255, 255)
    # x: 32 * 255 / 64 - 2 = 125.5, / 0.5 = 251; y: 60 * 255 / 64 - 34 = 205.06 -> clip 187,
    # / 0.5 = 374.
    mapped = prepared.to_image(torch.tensor([[32.0, 60.0, 32.0, 60.0]]))
    torch.testing.assert_close(
        mapped, torch.tensor([[251.0, 374.0, 251.0, 374.0]]), atol=1e-3, rtol=0
    )


def test_normalized_input():
    image = np.array([[[0, 255, 51]]], dtype=np.uint8)
    mean = np.asarray(MEAN, np.float32).reshape(1, 1, 3)
    std = np.asarray(STD, np.float32).reshape(1, 1, 3)
    out = normalized_input(image, mean, std)
    assert out.shape == (3, 1, 1) and out.dtype == torch.float32
    expected = [(0 - MEAN[0]) / STD[0], (1 - MEAN[1]) / STD[1], (0.2 - MEAN[2]) / STD[2]]
    torch.testing.assert_close(out.flatten(), torch.tensor(expected), rtol=0, atol=1e-6)


def test_top_by_threshold_keeps_ties_at_the_last_place():
    scores = torch.tensor([0.9, 0.5, 0.5, 0.7, 0.1])
    assert top_by_threshold(scores, 3).tolist() == [0, 3, 1, 2]
    assert top_by_threshold(scores, 2).tolist() == [0, 3]
    assert top_by_threshold(scores, 10).tolist() == [0, 3, 1, 2, 4]


def test_merge_original_suppresses_per_class_then_keeps_the_best():
    # Two class-0 boxes with IoU 50 / 150 = 1/3: the lower decays by exp(-(1/3)^2 / 0.5).
    sets = [
        Detections(torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([0.9]), torch.tensor([0])),
        Detections(
            torch.tensor([[5.0, 0, 15, 10], [5.0, 0, 15, 10]]),
            torch.tensor([0.8, 0.3]),
            torch.tensor([0, 1]),
        ),
    ]
    decayed = 0.8 * np.exp(-(1 / 9) / 0.5)
    merged = merge_original(sets, suppress=True, soft_nms={}, max_per_image=100)
    torch.testing.assert_close(merged.scores, torch.tensor([0.9, decayed, 0.3]).float())
    assert merged.classes.tolist() == [0, 0, 1]
    kept = merge_original(sets, suppress=False, soft_nms={}, max_per_image=2)
    torch.testing.assert_close(kept.scores, torch.tensor([0.9, 0.8]))
    none = Detections(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long))
    assert (
        len(merge_original([none, none], suppress=True, soft_nms={}, max_per_image=5).scores) == 0
    )


class StandInDetector:
    """Records the network inputs and decodes fixed boxes in output cells."""

    device = torch.device("cpu")

    def __init__(self, cells: Detections):
        self.cells = cells
        self.inputs = []

    def forward_raw(self, images, *, flip):
        self.inputs.append((images.tensor.clone(), list(images.image_sizes), flip))
        return None

    def decode_cells(self, outputs, *, flip):
        return self.cells


def centernet_pipeline(**kwargs):
    return OriginalTestPipeline(
        input_transform=CenterNetInputTransform(input_size=None),
        pixel_mean=MEAN,
        pixel_std=STD,
        suppress_single_scale=False,
        **kwargs,
    )


def test_pipeline_runs_every_scale_and_maps_back():
    image = random_image(375, 500)
    cells = Detections(
        torch.tensor([[10.0, 20.0, 30.0, 40.0]]), torch.tensor([0.5]), torch.tensor([3])
    )
    detector = StandInDetector(cells)
    chw = torch.from_numpy(image).permute(2, 0, 1).float()
    result = centernet_pipeline()(detector, chw, [1.0, 0.5], True)
    assert result.image_size == (375, 500)
    shapes = [tuple(t.shape) for t, _, _ in detector.inputs]
    # Scale 0.5: 187 x 250 -> (187 | 31) + 1 = 192, (250 | 31) + 1 = 256.
    assert shapes == [(1, 3, 384, 512), (1, 3, 192, 256)]
    assert all(flip for _, _, flip in detector.inputs)
    assert detector.inputs[0][1] == [(384, 512)]
    # The first input is the normalized image shifted by (6, 5).
    expected = normalized_input(
        image, np.float32(MEAN).reshape(1, 1, 3), np.float32(STD).reshape(1, 1, 3)
    )
    torch.testing.assert_close(detector.inputs[0][0][0, :, 5:380, 6:506], expected, rtol=0, atol=0)
    # Scale 1: (34, 75, 114, 155). Scale 0.5: centre (125, 93) -> (128, 96), so
    # (4 x - 3, 4 y - 3) / 0.5 = (74, 154, 234, 314); soft-NMS of the two (IoU 0).
    boxes = sorted(result.pred_boxes.tensor.tolist())
    assert boxes == [[34.0, 75.0, 114.0, 155.0], [74.0, 154.0, 234.0, 314.0]]
    assert result.pred_classes.tolist() == [3, 3]


def test_pipeline_reads_rgb_inputs_as_bgr():
    image = random_image(40, 60)
    detector = StandInDetector(Detections(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0).long()))
    bgr = torch.from_numpy(image).permute(2, 0, 1).float()
    centernet_pipeline(input_format="BGR")(detector, bgr, [1.0], False)
    centernet_pipeline(input_format="RGB")(detector, bgr.flip(0), [1.0], False)
    torch.testing.assert_close(detector.inputs[0][0], detector.inputs[1][0], rtol=0, atol=0)
    with pytest.raises(ValueError, match="input_format"):
        centernet_pipeline(input_format="YUV")


def test_centernet_decode_cells_and_the_config_fragment():
    use_original_test = config_fragment("CenterNet").use_original_test
    cfg = load_config(os.path.join(REPO, "configs", "CenterNet", "centernet_R_18_shapes.py"))
    use_original_test(cfg.model, cfg.dataloader)
    assert cfg.dataloader.test.mapper.augmentations == []
    assert cfg.dataloader.test.mapper.image_format == "BGR"
    torch.manual_seed(0)
    model = instantiate(cfg.model).eval()
    assert model.test_pipeline.input_transform.input_size is None  # keep_res, the default
    assert not model.postprocessor.clamp_sizes and not model.clamp_test_probs
    # decode_cells on known maps: one peak at cell (5, 3) of class 1 with size (4, -2) (decoded
    # as it is) and offset (0.5, 0.25): box (5.5 -/+ 2, 3.25 -/+ -1) in cells.
    heatmap = torch.full((1, model.num_classes, 8, 10), -30.0)
    heatmap[0, 1, 3, 5] = 2.0
    wh = torch.zeros(1, 2, 8, 10)
    wh[0, :, 3, 5] = torch.tensor([4.0, -2.0])
    offset = torch.zeros(1, 2, 8, 10)
    offset[0, :, 3, 5] = torch.tensor([0.5, 0.25])
    cells = model.decode_cells(CenterNetOutputs(heatmap, wh, offset), flip=False)
    assert cells.boxes.shape[0] == model.postprocessor.topk
    torch.testing.assert_close(cells.boxes[0], torch.tensor([3.5, 4.25, 7.5, 2.25]))
    assert cells.classes[0].item() == 1
    # The plain sigmoid at test time: the other cells score sigmoid(-30), not the clamp 1e-4.
    assert 0 < cells.scores[1].item() < 1e-12
    # The whole model on an unresized uint8-valued image: detections in its pixels.
    image = torch.from_numpy(random_image(50, 70)).permute(2, 0, 1).float()
    with torch.no_grad():
        (out,) = model([{"image": image}])
        (resized,) = model([{"image": image, "height": 100, "width": 140}])
    assert out["instances"].image_size == (50, 70)
    assert len(out["instances"]) == model.postprocessor.topk
    torch.testing.assert_close(
        resized["instances"].pred_boxes.tensor, out["instances"].pred_boxes.tensor * 2
    )
    with pytest.raises(ValueError, match="original implementation's pipeline"):
        ExportableDetector(model)


def test_cornernet_decode_cells_and_the_config_fragment():
    use_original_test = config_fragment("CornerNet").use_original_test
    cfg = load_config(
        os.path.join(REPO, "configs", "CornerNet", "cornernet_hourglass_small_shapes.py")
    )
    use_original_test(cfg.model, cfg.dataloader)
    assert cfg.model.flip_test and list(cfg.model.test_scales) == [1]
    model = instantiate(cfg.model).eval()
    # Stand-in outputs: one top-left corner at (2, 1) and one bottom-right corner at (6, 4) of
    # class 0, embeddings equal, no offsets; their mirror image has the pair mirrored.
    num_classes, height, width = model.num_classes, 8, 10
    tl = torch.full((2, num_classes, height, width), -30.0)
    br = torch.full((2, num_classes, height, width), -30.0)
    tl[0, 0, 1, 2] = br[0, 0, 4, 6] = 3.0
    # Mirrored: x -> W - x, so the box (2, 1, 6, 4) is (4, 1, 8, 4) there.
    tl[1, 0, 1, 4] = br[1, 0, 4, 8] = 3.0
    zeros = torch.zeros(2, 1, height, width)
    offsets = torch.zeros(2, 2, height, width)
    outputs = CornerPredictions(tl, br, zeros, zeros, offsets, offsets)
    cells = model.decode_cells(outputs, flip=True)
    best = cells.scores.argsort(descending=True)[:2]
    assert cells.boxes[best].tolist() == [[2.0, 1.0, 6.0, 4.0]] * 2
