"""The user's own COCO-format data from the command line, end to end: train, evaluate, predict
with ``--dataset ROLE=PATH.json:IMAGE_DIR``, on a json with every kind of bad entry (a corrupt
image, an image without annotations, NaN / negative-width / fully outside boxes); and weights
that are missing or belong to another detector refused."""

import os

import pytest
import torch
from coco_testing import write_user_coco
from train_net_testing import REPO, check_ok, lazy_overrides, run_script, subprocess_env

FCOS = os.path.join(REPO, "configs", "FCOS", "fcos_narrow_FPN_shapes_demo.py")
CENTERNET = os.path.join(REPO, "configs", "CenterNet", "centernet_narrow_FPN_P2_shapes_demo.py")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train FCOS for 6 iterations on a user's train json and evaluate on a user's val json."""
    root = tmp_path_factory.mktemp("own_data")
    env = subprocess_env(str(root / "cache"))
    train = write_user_coco(str(root / "train"), "tiny_train", 12, bad_entries=True)
    val = write_user_coco(str(root / "val"), "tiny_val", 6, bad_entries=True)
    out = root / "out"
    datasets = ["--dataset", train.spec("train"), "--dataset", val.spec("test")]
    overrides = lazy_overrides(out, 6, checkpoint_period=3, tiny_data=False)
    result = run_script("train_net.py", ["--config-file", FCOS, *datasets, *overrides], env)
    return dict(root=root, env=env, train=train, val=val, out=out, log=check_ok(result))


@pytest.mark.slow
def test_training_on_own_data_skips_and_reports_every_bad_entry(trained):
    train, val, out = trained["train"], trained["val"], trained["out"]
    log_file = (out / "log.txt").read_text()  # everything below is in the log file
    assert f"Dataset {train.spec('train')} registered as" in log_file
    assert "3 classes ['square', 'triangle', 'disc']" in log_file
    assert "model.num_classes = 3: the number of categories in the json" in log_file
    # Training set: 3 bad boxes dropped, 1 image without annotations removed.
    assert "dropped 3 degenerate, non-finite or fully outside box(es)" in log_file
    removed = train.num_images_without_annotations  # at least the one without annotations
    assert removed >= 1
    assert f"removed {removed} image(s) without usable annotations; " in log_file
    assert f"Training: skipping unreadable image '{train.corrupt_files[0]}'" in log_file
    assert "Training: skipped 1 unreadable image file(s)" in log_file
    # Evaluation: the same rule on the ground truth, the corrupt image reported, the rest scored.
    assert "Evaluation ground truth of" in log_file
    assert f"Evaluation: skipping unreadable image '{val.corrupt_files[0]}'" in log_file
    assert f"COCO evaluation over the {val.num_images - 1} images that were run" in log_file
    assert "copypaste: AP,AP50,AP75,APs,APm,APl" in trained["log"]
    final = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)
    assert final["model"]["head.cls_score.bias"].shape == (3,)


@pytest.mark.slow
def test_evaluation_and_prediction_on_own_data(trained):
    env, val, out = trained["env"], trained["val"], trained["out"]
    weights = f"train.init_checkpoint={out / 'model_final.pth'}"
    args = ["--config-file", FCOS, "--eval-only", "--dataset", val.spec("test"), weights]
    log = check_ok(run_script("train_net.py", [*args, f"train.output_dir={out}/eval"], env))
    assert "copypaste: AP,AP50,AP75,APs,APm,APl" in log
    drawings = trained["root"] / "drawings"
    demo = ["--config-file", FCOS, "--dataset", val.spec("test"), "--num-images", "50"]
    log = check_ok(run_script("tools/demo.py", [*demo, "--output", drawings, weights], env))
    assert "corrupt.jpg" in log  # skipped with a warning, the others drawn
    assert len([f for f in os.listdir(drawings) if f.endswith("_gt_vs_pred.png")]) == (
        val.num_images - 1
    )


@pytest.mark.slow
def test_missing_or_foreign_weights_are_refused(trained):
    env, val, out = trained["env"], trained["val"], trained["out"]
    dataset = ["--dataset", val.spec("test")]
    foreign = f"train.init_checkpoint={out / 'model_final.pth'}"  # FCOS weights
    result = run_script(
        "train_net.py", ["--config-file", CENTERNET, "--eval-only", *dataset, foreign], env
    )
    assert result.returncode != 0
    assert "not weights of this CenterNet: they leave its head untrained" in result.stderr
    no_weights = ["--config-file", FCOS, *dataset, "--output", out / "d"]
    result = run_script("tools/demo.py", no_weights, env)
    assert result.returncode != 0 and "no weights to predict with" in result.stderr
    check_ok(run_script("tools/demo.py", [*no_weights, "--random-weights"], env))


@pytest.mark.slow
def test_fine_tuning_with_another_class_count_reinitializes_the_class_layers(trained):
    """From the 3-class model to the embedded set's 8 classes: all but the class layers load,
    and the log names them."""
    out = trained["out"]
    args = [
        "--config-file",
        FCOS,
        f"train.init_checkpoint={out / 'model_final.pth'}",
        *lazy_overrides(out / "fine_tuned", 2),
    ]
    check_ok(run_script("train_net.py", args, trained["env"]))
    log_file = (out / "fine_tuned" / "log.txt").read_text()
    assert "Skip loading parameter 'head.cls_score.weight'" in log_file
    assert "not found in the checkpoint:\nhead.cls_score.{bias, weight}\n" in log_file
