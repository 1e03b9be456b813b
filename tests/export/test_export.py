"""Exported detectors (ONNX Runtime, TorchScript) against the eager ones, through the two
predictors as a user runs them: the same classes, boxes within 1e-3 px (relative 1e-4), scores
within 1e-4, on several input sizes (odd ones too, which the graph pads itself)."""

import glob
import os

import numpy as np
import pytest
import torch
from detector_testing import assert_same_detections, one_thread  # noqa: F401  (autouse fixture)

import anchorfree  # noqa: F401
import anchorfree.data  # noqa: F401
from anchorfree.config import get_predictor_cfg, load_config
from anchorfree.cornernet import CornerCandidates
from anchorfree.engine import Predictor, do_train
from anchorfree.export import ExportedPredictor, export_detector
from anchorfree.export.graph import ExportableDetector

from detectron2.config import instantiate
from detectron2.utils.env import seed_all_rng

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = {
    "fcos": "configs/FCOS/fcos_narrow_FPN_shapes_demo.py",
    "centernet": "configs/CenterNet/centernet_narrow_FPN_P2_shapes_demo.py",
    "cornernet": "configs/CornerNet/cornernet_hourglass_small_shapes.py",
}
# A random FCOS scores below its display threshold: decode every candidate.
OVERRIDES = {"fcos": ["model.postprocessor.score_thresh=0.0"], "centernet": [], "cornernet": []}
SIZES = [(200, 249), (97, 131), (333, 256)]  # (H, W) of the images given to the predictors


def _images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in SIZES]


def _export(config, weights, export_format, tmp_path, overrides=()):
    opts = [f"train.init_checkpoint={weights}", *overrides]
    cfg = load_config(os.path.join(REPO, config), opts)
    model = instantiate(cfg.model)
    model.load_state_dict(torch.load(weights, weights_only=False)["model"])
    export_detector(cfg, model, export_format, str(tmp_path / export_format))
    eager = Predictor(get_predictor_cfg(os.path.join(REPO, config), opts))
    return eager, ExportedPredictor(str(tmp_path / export_format))


def _same_instances(got, expected):
    assert got.image_size == expected.image_size
    assert_same_detections(
        got.pred_boxes.tensor,
        got.scores,
        got.pred_classes,
        expected.pred_boxes.tensor,
        expected.scores,
        expected.pred_classes,
    )


def _check_predictors(eager, exported):
    for image in _images():
        expected = eager(image)["instances"]
        assert len(expected) > 0
        _same_instances(exported(image)["instances"], expected)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Each detector trained briefly on the tiny embedded split (its scores and boxes then
    vary as a trained model's do), as checkpoint paths. The same weights on every run: on one
    thread, seeded here (``do_train`` leaves seeding to ``default_setup``, which reads
    ``train.seed``)."""
    root = tmp_path_factory.mktemp("trained")
    checkpoints = {}
    for detector, config in CONFIGS.items():
        cfg = load_config(
            os.path.join(REPO, config),
            [
                f"train.output_dir={root / detector}",
                "train.max_iter=40",
                "train.eval_period=0",
                "train.checkpointer.period=1000",
                "dataloader.train.dataset.names=anchorfree_shapes_tiny_train",
                "dataloader.train.total_batch_size=2",
                "dataloader.train.num_workers=0",
            ],
        )
        seed_all_rng(1)
        do_train(cfg)
        checkpoints[detector] = str(root / detector / "model_final.pth")
    return checkpoints


@pytest.mark.slow
@pytest.mark.parametrize("export_format", ["onnx", "torchscript"])
@pytest.mark.parametrize("detector", CONFIGS)
def test_exported_trained_model_predicts_as_the_eager_one(
    detector, export_format, trained, tmp_path
):
    # FCOS decoding every candidate: after 40 iterations its scores on these noise images sit
    # around its 0.05 threshold, so whether any detection is left to compare varied by run.
    eager, exported = _export(
        CONFIGS[detector], trained[detector], export_format, tmp_path, OVERRIDES[detector]
    )
    _check_predictors(eager, exported)


@pytest.mark.slow
@pytest.mark.parametrize("export_format", ["onnx", "torchscript"])
@pytest.mark.parametrize("detector", CONFIGS)
def test_exported_flip_test_predicts_as_the_eager_one(detector, export_format, tmp_path):
    """The flip test exported (random weights): the image and its mirror image in one graph,
    FCOS and CornerNet mirroring each image before padding it, as the eager predictor."""
    torch.manual_seed(0)
    cfg = load_config(os.path.join(REPO, CONFIGS[detector]), OVERRIDES[detector])
    weights = tmp_path / "model.pth"
    torch.save({"model": instantiate(cfg.model).state_dict()}, weights)
    overrides = OVERRIDES[detector] + ["model.flip_test=True"]
    eager, exported = _export(CONFIGS[detector], str(weights), export_format, tmp_path, overrides)
    assert eager.model.flip_test
    _check_predictors(eager, exported)


@pytest.mark.parametrize("flip", [False, True], ids=["plain", "flip"])
@pytest.mark.parametrize("detector", CONFIGS)
def test_traced_graph_matches_the_eager_graph_at_random_weights(detector, flip):
    """The graph as TorchScript traced at one size against the eager graph at other sizes:
    the traced sizes are not fixed (any H, W), for a random model (default initialization)."""
    overrides = OVERRIDES[detector] + (["model.flip_test=True"] if flip else [])
    torch.manual_seed(0)
    model = instantiate(load_config(os.path.join(REPO, CONFIGS[detector]), overrides).model)
    graph = ExportableDetector(model)
    with torch.no_grad():
        traced = torch.jit.trace(graph, (torch.rand(3, 256, 320) * 255,), check_trace=False)
        for height, width in SIZES:
            image = torch.rand(3, height, width) * 255
            expected, got = graph(image), traced(image)
            assert len(expected[1]) > 0
            assert_same_detections(*got, *expected)


@pytest.mark.parametrize("detector", CONFIGS)
def test_flip_test_in_the_graph_merges_as_the_eager_model(detector):
    """With ``flip_test`` the graph (one image and its mirror, merged in the graph; CornerNet's
    suppression after it) gives the eager model's detections, at an odd size."""
    torch.manual_seed(0)
    overrides = OVERRIDES[detector] + ["model.flip_test=True"]
    model = instantiate(load_config(os.path.join(REPO, CONFIGS[detector]), overrides).model)
    graph = ExportableDetector(model)
    image = torch.rand(3, 97, 131) * 255
    with torch.no_grad():
        boxes, scores, classes = graph(image)
        (expected,) = model.inference(model.preprocess_image([{"image": image}]))
    if detector == "cornernet":
        selected = model.postprocessor.select(CornerCandidates(boxes, scores, classes), (97, 131))
        boxes, scores, classes = selected.pred_boxes.tensor, selected.scores, selected.pred_classes
    assert len(expected) > 0
    assert_same_detections(
        boxes, scores, classes, expected.pred_boxes.tensor, expected.scores, expected.pred_classes
    )


def test_graph_pads_odd_sizes_as_the_detector_does():
    """The graph's own normalization and padding give the eager detector's detections in its
    input coordinates, for an image whose sides are not multiples of the divisibility."""
    torch.manual_seed(0)
    model = instantiate(load_config(os.path.join(REPO, CONFIGS["centernet"])).model).eval()
    image = torch.rand(3, 97, 131) * 255
    with torch.no_grad():
        boxes, scores, classes = ExportableDetector(model)(image)
        (expected,) = model.inference(model.preprocess_image([{"image": image}]))
    assert len(scores) == 100
    assert torch.equal(boxes, expected.pred_boxes.tensor)
    assert torch.equal(scores, expected.scores)
    assert torch.equal(classes, expected.pred_classes)


@pytest.mark.parametrize("detector", CONFIGS)
def test_multi_scale_models_are_refused_and_flip_is_kept(detector):
    """The multi-scale test stays outside the graph: a model with more than the one scale 1.0
    is refused, naming the option; the flip test is in the graph."""
    model = instantiate(
        load_config(
            os.path.join(REPO, CONFIGS[detector]),
            ["model.test_scales=[0.5,1.0]", "model.flip_test=True"],
        ).model
    )
    with pytest.raises(ValueError, match=r"test_scales=\[0.5, 1.0\].*not part of an exported"):
        ExportableDetector(model)
    model.test_scales = (1.0,)
    assert ExportableDetector(model).flip


def test_detectron2_models_are_refused(tmp_path):
    cfg = load_config(os.path.join(REPO, "configs/baselines/retinanet_R_18_FPN_shapes.py"))
    with pytest.raises(ValueError, match="Only this project's detectors"):
        export_detector(cfg, instantiate(cfg.model), "onnx", str(tmp_path))


OUR_LEAF_CONFIGS = sorted(
    os.path.relpath(p, REPO)
    for family in ("FCOS", "CenterNet", "CornerNet")
    for p in glob.glob(os.path.join(REPO, "configs", family, "*.py"))
)


@pytest.mark.slow
@pytest.mark.parametrize("config", OUR_LEAF_CONFIGS)
def test_every_leaf_config_of_ours_traces_with_free_sizes(config):
    """Every LazyConfig of ours (COCO-sized ones too) as a traced graph, at a size other than
    the traced one, against its eager graph (random weights; FCOS decoding every candidate,
    CornerNet pairing corners whatever their embeddings)."""
    overrides = {
        "FCOS": ["model.postprocessor.score_thresh=0.0"],
        "CornerNet": ["model.postprocessor.embedding_thresh=1000.0"],
    }.get(config.split(os.sep)[1], [])
    cfg = load_config(os.path.join(REPO, config), overrides)
    if cfg.model.get("test_pipeline") is not None:
        # The originals' test pipelines run cv2 on the image: refused, exported without.
        with pytest.raises(ValueError, match="model.test_pipeline=None"):
            ExportableDetector(instantiate(cfg.model))
        cfg.model.test_pipeline = None
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    parameters = dict(model.named_parameters())
    with torch.no_grad():  # biases off their initial constants: peaks all over the image
        for name, parameter in parameters.items():
            if name.endswith("bias") and "norm" not in name:
                parameter.add_(torch.randn_like(parameter) * 0.5)
        for name, parameter in parameters.items():  # CornerNet: both corners rank classes alike
            if "bottom_right.heatmap" in name:
                parameter.copy_(parameters[name.replace("bottom_right", "top_left")])
    graph = ExportableDetector(model)
    image = torch.rand(3, 190, 229) * 255
    with torch.no_grad():
        traced = torch.jit.trace(graph, (torch.rand(3, 256, 256) * 255,), check_trace=False)
        expected = graph(image)
        assert len(expected[1]) > 0
        assert_same_detections(*traced(image), *expected)
