"""tools/train_accuracy.py: the budget, reading a run's evaluations and its own timing, the
summary over seeds and the report (not the training itself)."""

import json
import os
import sys

import pytest

from tools import train_accuracy
from tools.benchmarking.zoo import ACCURACY_DETECTORS
from tools.train_accuracy import (
    budget_iterations,
    curve_table,
    evaluation_curve,
    markdown_table,
    measured_training_seconds,
    read_metrics,
    run_record,
    summarize,
    write_report,
)

FCOS = next(d for d in ACCURACY_DETECTORS if d.slug == "fcos")
CENTERNET = next(d for d in ACCURACY_DETECTORS if d.slug == "centernet")


def _bbox(ap: float) -> dict:
    return {"AP": ap, "AP50": 2 * ap, "AP75": ap / 2, "APs": ap - 1, "APm": ap, "APl": ap + 1}


def _metrics_of_a_run(ap_at, seconds: float = 0.5, log_period: int = 5, max_iter: int = 20):
    """metrics.json records as Detectron2 writes them: a training record every log period (at
    the index of its last iteration), periodic evaluations at the index of the iteration they
    follow, the final one at max_iter."""
    records = []
    for index in range(log_period - 1, max_iter, log_period):
        records.append({"iteration": index, "time": seconds, "total_loss": 1.0})
        if index + 1 in ap_at:
            iteration = index + 1 if index + 1 == max_iter else index
            records.append(
                {
                    "iteration": iteration,
                    **{f"bbox/{k}": v for k, v in _bbox(ap_at[index + 1]).items()},
                }
            )
    return records


def test_budget_is_the_minutes_in_whole_points():
    assert budget_iterations(0.5, 30, 6) == 3600  # 30 min at 0.5 s/it, 600 a point
    assert budget_iterations(0.358, 30, 6) == 6 * round(1800 / 0.358 / 6)
    assert budget_iterations(0.7, 30, 6) % 6 == 0
    assert budget_iterations(100.0, 1, 6) == 6  # at least one iteration a point


def test_evaluation_curve_places_every_evaluation_after_its_iterations():
    records = _metrics_of_a_run({10: 1.5, 20: 2.5})
    curve = evaluation_curve(records, max_iter=20)
    assert [p["iteration"] for p in curve] == [10, 20]
    assert [p["bbox"]["AP"] for p in curve] == [1.5, 2.5]
    # A resumed run that repeats the evaluation at 10: counted once, its last record.
    repeated = records + [{"iteration": 9, "bbox/AP": 1.7}]
    assert [p["bbox"]["AP"] for p in evaluation_curve(repeated, 20)] == [1.7, 2.5]
    assert evaluation_curve([{"iteration": 4, "time": 0.1}], 20) == []


def test_measured_training_seconds_sum_each_window():
    records = [{"iteration": 4, "time": 1.0}, {"iteration": 9, "time": 2.0}]
    assert measured_training_seconds(records, 10) == pytest.approx(5 * 1.0 + 5 * 2.0)
    assert measured_training_seconds(records, 5) == pytest.approx(5.0)
    assert measured_training_seconds(records, 7) == pytest.approx(5.0 + 2 * 2.0)
    # Records repeated by a resumed run count once.
    assert measured_training_seconds(records + records, 10) == pytest.approx(15.0)


def test_read_metrics_of_a_missing_run_is_empty(tmp_path):
    assert read_metrics(str(tmp_path)) == []
    records = _metrics_of_a_run({20: 1.0})
    (tmp_path / "metrics.json").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert read_metrics(str(tmp_path)) == records


def test_run_record_refuses_an_unfinished_run():
    records = _metrics_of_a_run({10: 1.5}, max_iter=20)
    with pytest.raises(RuntimeError, match="no evaluation at the last iteration"):
        run_record(FCOS, 1, 20, 0.4, records, 60.0, [])


def test_run_record_times_every_point(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    record = run_record(FCOS, 1, 20, 0.4, _metrics_of_a_run({10: 1.5, 20: 2.5}), 60.0, [])
    assert record["threads"] == 1
    assert [p["iteration"] for p in record["curve"]] == [10, 20]
    assert [p["minutes"] for p in record["curve"]] == pytest.approx([5 / 60, 10 / 60])
    assert [p["calibrated_minutes"] for p in record["curve"]] == pytest.approx([4 / 60, 8 / 60])
    assert record["wall_minutes"] == 1.0


def _runs():
    return [
        run_record(FCOS, 1, 20, 0.4, _metrics_of_a_run({10: 1.0, 20: 3.0}), 60.0, []),
        run_record(FCOS, 2, 20, 0.4, _metrics_of_a_run({10: 2.0, 20: 5.0}, 0.6), 60.0, []),
        run_record(CENTERNET, 1, 20, 0.5, _metrics_of_a_run({10: 0.5, 20: 1.0}), 60.0, []),
    ]


def test_summary_is_the_mean_and_half_range_over_seeds():
    rows = summarize(_runs(), [d.slug for d in ACCURACY_DETECTORS])
    assert [r["slug"] for r in rows] == ["fcos", "centernet"]
    fcos = rows[0]
    assert fcos["seeds"] == [1, 2]
    assert fcos["final"]["AP"] == pytest.approx((4.0, 1.0))
    assert fcos["points"][0]["AP50"] == pytest.approx((3.0, 1.0))
    # Calibrated minutes: 20 iterations at 0.4 s, whatever the runs measured.
    assert fcos["final"]["minutes"] == pytest.approx(20 * 0.4 / 60)
    # Measured 0.5 s and 0.6 s an iteration.
    assert [t["measured_over_calibrated"] for t in fcos["timing"]] == pytest.approx([1.25, 1.5])
    assert rows[1]["final"]["AP"] == (1.0, 0.0)


def test_summary_refuses_seeds_with_different_budgets():
    runs = _runs()
    runs[1]["max_iter"] = 40
    with pytest.raises(ValueError, match="different budgets"):
        summarize(runs, ["fcos"])


def test_report_table_and_plot(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    os.makedirs(tmp_path / "runs")
    for run in _runs():
        with open(tmp_path / "runs" / f"{run['slug']}_seed{run['seed']}.json", "w") as f:
            json.dump(run, f)
    throughput = {"fcos": {"images_per_second": 20.0, "batch": 8}}
    rows = write_report(str(tmp_path), throughput)
    table = (tmp_path / "report.md").read_text()
    assert table == markdown_table(rows, throughput) + "\n" + curve_table(rows)
    lines = table.splitlines()
    # Budget minutes of each point: 10 and 20 iterations at FCOS's calibrated 0.4 s.
    assert lines[5] == "| detector | AP at 0 min | AP at 0 min |"
    assert lines[7] == "| FCOS | 1.5 ± 0.5 | 4.0 ± 1.0 |"
    assert lines[2].startswith(
        "| FCOS | `FCOS/fcos_narrow_FPN_shapes.py` | 1, 2 | 20 x 8 | 0.1 | 20.0 |"
    )
    assert "| 4.0 ± 1.0 |" in lines[2]
    assert lines[2].endswith("| 1.25 (2), 1.50 (2) |")  # measured / calibrated (threads)
    assert lines[3].startswith("| CenterNet |") and "| 1.0 |" in lines[3]
    assert (tmp_path / "ap_vs_minutes.png").stat().st_size > 1000
    assert json.loads((tmp_path / "summary.json").read_text())[0]["slug"] == "fcos"


def _calibrated(tmp_path, seconds_per_iteration: float) -> None:
    os.makedirs(tmp_path / "runs", exist_ok=True)
    throughput = {
        d.slug: {
            "seconds_per_iteration": seconds_per_iteration,
            "images_per_second": 8 / seconds_per_iteration,
            "batch": 8,
        }
        for d in ACCURACY_DETECTORS
    }
    (tmp_path / "throughput.json").write_text(
        json.dumps({"overrides": [], "detectors": throughput})
    )


def test_a_finished_run_is_not_trained_again(tmp_path, monkeypatch, capsys):
    _calibrated(tmp_path, 0.5)
    run = run_record(
        FCOS, 1, 36, 0.5, _metrics_of_a_run({18: 1.0, 36: 2.0}, log_period=6, max_iter=36), 6, []
    )
    (tmp_path / "runs" / "fcos_seed1.json").write_text(json.dumps(run))
    # 0.3 minutes at 0.5 s an iteration, 6 points: 36 iterations, the finished run's budget.
    argv = ["train_accuracy.py", "--only", "fcos", "--seeds", "1", "--minutes", "0.3"]
    monkeypatch.setattr(sys, "argv", [*argv, "--output", str(tmp_path)])
    monkeypatch.setattr(train_accuracy, "train", lambda *a: pytest.fail("trained again"))
    train_accuracy.main()
    assert "exists, not trained again" in capsys.readouterr().out
    assert (tmp_path / "report.md").exists()
    # Another budget for the same run file is an error, not a silent mix of budgets.
    monkeypatch.setattr(sys, "argv", [*argv[:-1], "0.6", "--output", str(tmp_path)])
    with pytest.raises(SystemExit, match="a run of 36 iterations, this budget is 72"):
        train_accuracy.main()
