"""tools/export_model.py and tools/demo.py --exported from the command line."""

import json

import cv2
import numpy as np
import pytest
from train_net_testing import check_ok, run_script, subprocess_env

CONFIG = "configs/CornerNet/cornernet_hourglass_small_shapes.py"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return subprocess_env(str(tmp_path_factory.mktemp("datasets")))


def test_export_without_weights_is_refused(tmp_path, env):
    args = ["--config-file", CONFIG, "--format", "onnx", "--output", tmp_path / "x"]
    result = run_script("tools/export_model.py", args, env)
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("tools/export_model.py: no weights to export; set train.init_checkpoint=")
    )


@pytest.mark.slow
def test_export_then_demo_with_the_exported_model(tmp_path, env):
    exported = tmp_path / "exported"
    args = ["--config-file", CONFIG, "--format", "torchscript", "--output", exported]
    check_ok(run_script("tools/export_model.py", [*args, "--random-weights"], env))
    assert sorted(p.name for p in exported.iterdir()) == ["config.yaml", "export.json", "model.ts"]
    metadata = json.loads((exported / "export.json").read_text())
    assert metadata["detector"] == "CornerNet" and metadata["post_step"] is True
    assert len(metadata["thing_classes"]) == 8
    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (97, 131, 3), np.uint8))
    demo = ["--config-file", CONFIG, "--exported", exported, "--input", image]
    check_ok(run_script("tools/demo.py", [*demo, "--output", tmp_path / "vis"], env))
    assert (tmp_path / "vis" / "photo_pred.png").is_file()
