"""The measuring parts of tools/benchmark.py (not their timings)."""

import itertools
import json
import os

import numpy as np
import pytest
import torch

from tools.benchmarking.adapters import BACKGROUND_LOGIT, PLANTED_LOGIT, plant_in_logits
from tools.benchmarking.report import write_report
from tools.benchmarking.timing import peak_memory_mib, summary
from tools.benchmarking.zoo import ACCURACY_DETECTORS, DETECTORS, SAME_SPEED_AS, select


@pytest.mark.parametrize("anchors", [1, 9])
def test_planting_sets_exactly_the_requested_objects(anchors):
    num_classes = 3
    maps = [torch.randn(1, anchors * num_classes, h, w) for h, w in [(8, 10), (4, 5), (2, 3)]]
    planted = plant_in_logits(maps, num_classes, 25, np.random.default_rng(0))
    values = torch.cat([m.flatten() for m in planted])
    assert int((values == PLANTED_LOGIT).sum()) == 25
    assert int((values == BACKGROUND_LOGIT).sum()) == values.numel() - 25
    assert [m.shape for m in planted] == [m.shape for m in maps]
    # At most one class per (position, anchor): planted entries are distinct candidates.
    per_candidate = torch.cat(
        [
            (m[0] == PLANTED_LOGIT).reshape(anchors, num_classes, -1).sum(1).flatten()
            for m in planted
        ]
    )
    assert per_candidate.max() == 1


def test_peak_memory_sees_a_temporary_allocation():
    def allocate():
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, freed on return
        assert block.sum() > 0

    if not os.path.exists("/proc/self/statm"):
        pytest.skip("needs /proc")
    assert 60 <= peak_memory_mib(allocate, "cpu") < 200


def test_zoo_configs_exist_and_selection():
    assert all(os.path.exists(d.config_path) for d in (*DETECTORS, *ACCURACY_DETECTORS))
    # The time-to-accuracy comparison has the same five detectors, plus ablations.
    assert [d.slug for d in ACCURACY_DETECTORS][: len(DETECTORS)] == [d.slug for d in DETECTORS]
    # An ablation that trains at its base's speed names a measured detector.
    slugs = {d.slug for d in ACCURACY_DETECTORS}
    assert all(
        a in slugs and b in slugs and b not in SAME_SPEED_AS for a, b in SAME_SPEED_AS.items()
    )
    assert [d.slug for d in select(["centernet_upsampling"], ACCURACY_DETECTORS)] == [
        "centernet_upsampling"
    ]
    assert [d.slug for d in select(["fcos", "retinanet_d2"])] == ["retinanet_d2", "fcos"]
    with pytest.raises(SystemExit, match="Unknown"):
        select(["yolo"])


def _measurements(ms: float) -> dict:
    return {
        "weights": "random init",
        "config": "c.py",
        "parameters_M": 1.0,
        "gflops": 2.0,
        "latency": summary([ms / 1000] * 3),
        "decode": summary([ms / 10000] * 3),
        "decode_share": 0.1,
        "predictions_per_image": 1234,
        "inference_peak_MiB": 10.0,
        "train_iteration": {**summary([ms / 100] * 3), "batch": 4},
        "train_peak_MiB": 50.0,
        "latency_by_size": {"256": summary([ms / 2000]), "512": summary([ms / 1000])},
        "targets_by_objects": {"10": summary([0.001]), "100": summary([0.002])},
        "decode_by_objects": {"10": summary([0.001]), "100": summary([0.003])},
    }


def test_report_tables_and_plots(tmp_path):
    report = {
        "environment": {"platform": "test", "cpu_count": 2, "threads": 2, "torch": "x"},
        "command": "python tools/benchmark.py",
        "detectors": {
            "a": {
                "name": "Alpha",
                "anchor_free": False,
                "implementation": "Detectron2",
                "hyperparameters": ["anchors", "IoU"],
            },
            "b": {
                "name": "Beta",
                "anchor_free": True,
                "implementation": "anchorfree-d2",
                "hyperparameters": ["radius"],
            },
        },
        "devices": {"cpu": {"a": _measurements(50.0), "b": _measurements(80.0)}},
        "accuracy": {
            "detectors": {
                "b": {"bbox": {"AP": 12.345, "AP50": 30.0, "APs": 1.0, "APm": 2.0, "APl": 3.0}}
            }
        },
    }
    markdown = write_report(report, str(tmp_path))
    assert "| Alpha | Detectron2 | 1.00 | 2.0 | 50.0 | 5.0 (10%) | 500 | 10 / 50 | – |" in markdown
    assert "| Beta | yes | 1,234 | 1.00 | 2.00 | 1: radius | 12.35 |" in markdown
    for name in (
        "results.md",
        "latency_vs_size_cpu.png",
        "objects_cpu.png",
        "ap_vs_latency_cpu.png",
    ):
        assert (tmp_path / name).stat().st_size > 0


def test_model_zoo_suite_times_each_config_through_the_predictor(tmp_path, monkeypatch):
    from tools import benchmark
    from tools.benchmarking import model_zoo

    configs = {"small": "configs/CenterNet/centernet_R_18_shapes.py"}
    monkeypatch.setattr(model_zoo, "CONFIGS", configs)
    args = benchmark.parse_args(
        ["--suite", "model-zoo", "--reps", "2", "--warmup", "0", "--zoo-size", "64"]
        + ["--output", str(tmp_path)]
    )
    model_zoo.run(args)
    with open(tmp_path / "benchmark_model-zoo.json") as f:
        report = json.load(f)
    entry = report["devices"]["cpu"]["small"]
    assert entry["config"] == configs["small"] and entry["median_ms"] > 0
    assert report["size"] == 64 and report["reps"] == 2


def test_model_zoo_configs_exist():
    from tools.benchmarking import model_zoo

    repository = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for config in model_zoo.CONFIGS.values():
        assert os.path.isfile(os.path.join(repository, config)), config


def test_memory_format_suite_times_both_formats_on_the_same_batches(tmp_path):
    from tools import benchmark
    from tools.benchmarking import memory_format

    args = benchmark.parse_args(
        ["--suite", "memory-format", "--only", "fcos", "--reps", "2", "--warmup", "0"]
        + ["--infer-reps", "2", "--output", str(tmp_path)]
    )
    memory_format.run(args)
    with open(tmp_path / "benchmark_memory-format.json") as f:
        report = json.load(f)
    (config,) = report["configs"]
    assert config == select(["fcos"])[0].config
    entry = report["configs"][config]
    for timed in ("training_iteration", "inference"):
        assert set(entry[timed]) == set(memory_format.FORMATS)
        assert all(
            entry[timed][f]["n"] == 2 and entry[timed][f]["median_ms"] > 0 for f in entry[timed]
        )
    assert entry["training_ratio"] > 0 and entry["inference_ratio"] > 0
    assert f"`{config}`" in report["table"]


def test_recipe_training_step_takes_the_next_batch_each_call():
    from anchorfree.config import load_config
    from tools.benchmarking.memory_format import recipe_training_step

    cfg = load_config(select(["fcos"])[0].config_path, [])
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(1))

        def forward(self, batch):
            seen.append(batch)
            return {"loss": self.weight.sum()}

    model = Recorder()
    step = recipe_training_step(cfg, model, itertools.cycle(["a", "b"]))
    for _ in range(3):
        step()
    assert seen == ["a", "b", "a"]
    # The recipe's optimizer (AdamW at its learning rate) stepped the weight three times.
    assert float(model.weight) == pytest.approx(1.0 - 3 * cfg.optimizer.lr, rel=0.05)


def test_batch_size_rounds_train_every_batch_size_on_the_same_images():
    from tools.benchmarking.batch_size import images_per_round, round_of_steps

    assert images_per_round([8, 4, 2]) == 8
    assert images_per_round([3]) == 3
    for uneven in ([8, 3], [4, 0]):
        with pytest.raises(ValueError, match="divisors"):
            images_per_round(uneven)
    calls = []
    round_of_steps(lambda: calls.append(1), 8 // 2)()
    assert len(calls) == 4


def test_batch_size_suite_times_each_batch_size_against_the_configs(tmp_path):
    from tools import benchmark
    from tools.benchmarking import batch_size
    from tools.benchmarking.memory_format import DEMO_CONFIG

    args = benchmark.parse_args(
        ["--suite", "batch-size", "--batches", "4", "2", "--reps", "2", "--warmup", "0"]
        + ["--output", str(tmp_path)]
    )
    batch_size.run(args)
    with open(tmp_path / "benchmark_batch-size.json") as f:
        report = json.load(f)
    assert report["config"] == DEMO_CONFIG
    assert report["config_batch"] == 4 and report["images_per_round"] == 4
    assert set(report["per_image"]) == set(report["per_iteration"]) == {"4", "2"}
    for b in ("4", "2"):
        per_image, per_iteration = report["per_image"][b], report["per_iteration"][b]
        assert per_image["n"] == 2 and per_image["median_ms"] > 0
        assert per_iteration["median_ms"] == pytest.approx(per_image["median_ms"] * int(b))
    # The config's own batch size against itself, round by round.
    assert report["ratio_per_image_to_config_batch"]["4"] == 1.0
    assert report["ratio_per_image_to_config_batch"]["2"] > 0
    assert "| 2 |" in report["table"]
