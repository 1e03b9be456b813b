"""Predictor (DefaultPredictor accepting gray and BGRA images) and the demo script."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import anchorfree.data  # noqa: F401
from anchorfree.config import get_predictor_cfg, load_config
from anchorfree.engine import Predictor, as_bgr_image, build_model_from_config

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.engine import DefaultPredictor

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAZY_CONFIG = os.path.join(REPO, "configs", "baselines", "fcos_R_18_FPN_shapes.py")
RETINANET_CONFIG = os.path.join(REPO, "configs", "baselines", "retinanet_R_18_FPN_shapes.py")


def _untrained_weights(config_file, out_dir):
    """Weights of an untrained model: enough to exercise every step of prediction."""
    model = build_model_from_config(load_config(config_file))
    DetectionCheckpointer(model, str(out_dir)).save("weights")
    return str(out_dir / "weights.pth")


@pytest.fixture(scope="module")
def lazy_checkpoint(tmp_path_factory):
    return _untrained_weights(LAZY_CONFIG, tmp_path_factory.mktemp("lazy"))


@pytest.fixture(scope="module")
def retinanet_checkpoint(tmp_path_factory):
    return _untrained_weights(RETINANET_CONFIG, tmp_path_factory.mktemp("retinanet"))


def _image(h=200, w=249, channels=3):
    rng = np.random.default_rng(0)
    shape = (h, w) if channels is None else (h, w, channels)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("channels", [None, 1, 3, 4])
def test_as_bgr_image_accepts_gray_bgr_bgra(channels):
    image = _image(channels=channels)
    out = as_bgr_image(image)
    assert out.shape == (200, 249, 3) and out.dtype == np.uint8
    if channels in (3, 4):
        np.testing.assert_array_equal(out, image[:, :, :3])
    else:
        np.testing.assert_array_equal(out[:, :, 1], image.reshape(200, 249))


@pytest.mark.parametrize(
    "bad, error",
    [
        (np.zeros((0, 10, 3), np.uint8), "Empty image"),
        (np.zeros((10, 10, 2), np.uint8), "shape"),
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        ([[1, 2], [3, 4]], "numpy array"),
    ],
)
def test_as_bgr_image_rejects_bad_input(bad, error):
    with pytest.raises((TypeError, ValueError), match=error):
        as_bgr_image(bad)


def test_lazy_config_predictor(lazy_checkpoint):
    cfg = get_predictor_cfg(LAZY_CONFIG, [f"train.init_checkpoint={lazy_checkpoint}"])
    predictor = Predictor(cfg)
    for channels in (None, 3, 4):
        instances = predictor(_image(channels=channels))["instances"]
        assert instances.image_size == (200, 249)
        assert len(instances) <= 100
        boxes = instances.pred_boxes.tensor
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 249).all()


def test_detectron2_default_predictor_with_the_baseline(retinanet_checkpoint):
    cfg = get_predictor_cfg(RETINANET_CONFIG, [f"train.init_checkpoint={retinanet_checkpoint}"])
    instances = DefaultPredictor(cfg)(_image())["instances"]
    assert instances.image_size == (200, 249)
    ours = Predictor(cfg)(_image(channels=None))["instances"]
    assert ours.image_size == (200, 249)


@pytest.mark.slow
def test_demo_on_folder_video_and_dataset(tmp_path, lazy_checkpoint):
    inputs = tmp_path / "in"
    inputs.mkdir()
    cv2.imwrite(str(inputs / "a.png"), _image())
    cv2.imwrite(str(inputs / "gray.png"), _image(channels=None))
    (inputs / "corrupt.jpg").write_bytes(b"\xff\xd8 truncated")
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (249, 200))
    for _ in range(3):
        writer.write(_image())
    writer.release()
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "demo.py"),
            "--config-file",
            LAZY_CONFIG,
            "--input",
            str(inputs),
            str(video),
            "--dataset",
            "anchorfree_shapes_tiny_val",
            "--num-images",
            "2",
            "--output",
            str(out),
            f"train.init_checkpoint={lazy_checkpoint}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, ANCHORFREE_DATASETS=str(tmp_path / "datasets")),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    log = result.stdout + result.stderr
    assert "Skipping" in log and "corrupt.jpg" in log
    written = sorted(os.listdir(out))
    assert "a_pred.png" in written and "gray_pred.png" in written and "clip.mp4" in written
    side_by_side = [f for f in written if f.endswith("_gt_vs_pred.png")]
    assert len(side_by_side) == 2
    drawing = cv2.imread(str(out / side_by_side[0]))
    assert drawing.shape[1] > drawing.shape[0]  # GT and prediction side by side


def test_demo_missing_input_is_a_clear_error(tmp_path, lazy_checkpoint):
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "demo.py"),
            "--config-file",
            LAZY_CONFIG,
            "--input",
            str(tmp_path / "nope.jpg"),
            "--output",
            str(tmp_path),
            f"train.init_checkpoint={lazy_checkpoint}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "nope.jpg' does not exist" in result.stderr
