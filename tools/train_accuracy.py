#!/usr/bin/env python
"""
Time-to-accuracy on the embedded dataset (``make accuracy``): every detector of
``tools/benchmarking/zoo.py``'s ``ACCURACY_DETECTORS`` trained from scratch with its config of
the shared recipe (configs/common/shapes_accuracy.py: standard difficulty, batches of 8, AdamW,
cosine schedule) for the same number of training minutes, evaluated at several points along the
way, once per seed.

1. Throughput: the training iterations per second of every detector, measured side by side in
   one process (the recipe's data loader and optimizer, the detectors alternating within each
   round so that machine load affects all alike), written to ``<output>/throughput.json`` and
   reused by later runs (``--recalibrate`` measures again). A detector's budget in iterations
   is ``--minutes`` of its measured seconds per iteration, rounded to a multiple of
   ``--points``.
2. Training: ``train_net.py`` per detector and seed (``train.max_iter`` the budget,
   ``train.eval_period`` the budget / ``--points``, ``train.seed``), COCOEvaluator on
   ``anchorfree_shapes_val`` at every point. An interrupted run resumes from its last
   checkpoint; a finished one is written to ``<output>/runs/<slug>_seed<k>.json`` (AP etc. at
   every point, with its iteration and minutes of training) and not trained again.
3. Report: ``<output>/report.md`` (the final table: mean and spread over seeds; AP at every
   point) and ``<output>/ap_vs_minutes.png`` (AP against training minutes, mean over seeds, the
   band spanning the seeds), from every run file present.

Minutes on the plot and in the tables are calibrated minutes: a point's iterations x its
detector's seconds per iteration in the calibration, the training time of one idle machine
measured for every detector side by side. The budget and the axis are then the same for runs
made on machines of other speeds, in other sessions, or several at once with fewer threads each
(a machine's speed is not the same from one session to the next). Each point also
records the training time the run measured itself (Detectron2's iteration timer: data loading,
forward, backward and update; evaluations and checkpoints excluded), and the report lists every
run's measured / calibrated time, with the threads it trained with, as a check.

    python tools/train_accuracy.py [--only fcos fcos_d2] [--seeds 1 2] [--minutes 30] [--points 6]
        [--output output/accuracy] [--recalibrate] [--report-only] [--override KEY=VALUE ...]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Sequence

import torch

if __package__:  # python -m tools.train_accuracy, or imported as tools.train_accuracy
    from .benchmarking.zoo import (
        ACCURACY_DETECTORS,
        REPO,
        SAME_SPEED_AS,
        Detector,
        run_dir,
        select,
    )
else:  # python tools/train_accuracy.py: tools/ is the first entry of sys.path
    from benchmarking.zoo import ACCURACY_DETECTORS, REPO, SAME_SPEED_AS, Detector, run_dir, select

METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", default=[], help="detector slugs (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per run")
    parser.add_argument("--points", type=int, default=6, help="evaluations per run")
    parser.add_argument("--output", default=os.path.join("output", "accuracy"))
    parser.add_argument("--recalibrate", action="store_true", help="measure throughput again")
    parser.add_argument("--report-only", action="store_true", help="only write the report")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (throughput)")
    parser.add_argument(
        "--override",
        dest="opts",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a LazyConfig override for every run (repeatable), e.g. "
        "dataloader.train.dataset.names=anchorfree_shapes_tiny_train",
    )
    return parser.parse_args()


# ---- 1. throughput ----------------------------------------------------------------------------


def measure_throughput(
    detectors: Sequence[Detector], opts: Sequence[str], reps: int = 20, warmup: int = 3
) -> Dict[str, dict]:
    """Seconds per training iteration of each detector's config (its data loader, optimizer and
    batch), the detectors alternating (``tools/benchmarking/timing.alternate``)."""
    import anchorfree.data  # noqa: F401  (registers the embedded dataset)
    from anchorfree.config import load_config
    from anchorfree.engine import build_model_from_config

    from detectron2.config import instantiate
    from detectron2.utils.events import EventStorage

    if __package__:
        from .benchmarking.memory_format import recipe_training_step
        from .benchmarking.timing import alternate, summary
    else:
        from benchmarking.memory_format import recipe_training_step
        from benchmarking.timing import alternate, summary

    steps, batches = {}, {}
    for detector in detectors:
        cfg = load_config(detector.config_path, list(opts))
        torch.manual_seed(0)
        model = build_model_from_config(cfg).train()
        data = iter(instantiate(cfg.dataloader.train))
        steps[detector.slug] = recipe_training_step(cfg, model, data)
        batches[detector.slug] = cfg.dataloader.train.total_batch_size
    with EventStorage():
        times = alternate(steps, reps, warmup, progress=True)
    throughput = {}
    for slug, batch in batches.items():
        iteration = summary(times[slug])
        seconds = iteration["median_ms"] / 1000.0
        throughput[slug] = {
            "seconds_per_iteration": seconds,
            "images_per_second": batch / seconds,
            "batch": batch,
            "iteration": iteration,
        }
    return throughput


def budget_iterations(seconds_per_iteration: float, minutes: float, points: int) -> int:
    """The iterations of ``minutes`` of training, a multiple of ``points`` (at least one per
    point), so that the evaluations fall on whole iterations."""
    per_point = max(1, round(minutes * 60.0 / seconds_per_iteration / points))
    return per_point * points


# ---- 2. training ------------------------------------------------------------------------------


def read_metrics(output_dir: str) -> List[dict]:
    """Detectron2's ``metrics.json`` of a training run (one record per line; none if absent)."""
    path = os.path.join(output_dir, "metrics.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluation_curve(records: Sequence[dict], max_iter: int) -> List[dict]:
    """``[{"iteration": n, "bbox": {...}}]``, one entry per evaluation in ``records``
    (metrics.json of a run of ``max_iter`` iterations), ``n`` the iterations trained before it,
    ascending. Detectron2 records a periodic evaluation at the index of the iteration it follows
    and the final one at ``max_iter``. An evaluation repeated by a resumed run (after a stop
    between it and the next checkpoint) counts once, its last record."""
    by_iteration = {}
    for record in records:
        if "bbox/AP" in record:
            by_iteration[min(record["iteration"] + 1, max_iter)] = {
                k.split("/", 1)[1]: v for k, v in record.items() if k.startswith("bbox/")
            }
    return [{"iteration": n, "bbox": by_iteration[n]} for n in sorted(by_iteration)]


def measured_training_seconds(records: Sequence[dict], up_to: int) -> float:
    """The training time a run measured itself over its first ``up_to`` iterations:
    Detectron2's per-iteration ``time`` (data loading included; evaluation and checkpointing
    not), the median of its window as written every log period, times the iterations since the
    previous record. A resumed run's repeated records count once."""
    times = {r["iteration"]: r["time"] for r in records if "time" in r}
    total, previous = 0.0, -1
    for iteration in sorted(times):
        if previous >= up_to - 1:
            break
        total += times[iteration] * (min(iteration, up_to - 1) - previous)
        previous = iteration
    return total


def train(detector: Detector, output_dir: str, seed: int, max_iter: int, points: int, opts):
    """Run (or resume) train_net.py for one detector and seed; returns its wall seconds."""
    command = [
        sys.executable,
        os.path.join(REPO, "train_net.py"),
        "--config-file",
        detector.config_path,
        "--resume",
        f"train.output_dir={output_dir}",
        f"train.seed={seed}",
        f"train.max_iter={max_iter}",
        f"train.eval_period={max_iter // points}",
        *opts,
    ]
    print("  $ " + " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def run_record(
    detector: Detector,
    seed: int,
    max_iter: int,
    seconds_per_iteration: float,
    records: Sequence[dict],
    wall_s: float,
    opts: Sequence[str],
) -> dict:
    """What a finished run leaves in ``<output>/runs/``: its evaluations, each with the
    training minutes the run measured up to it (``minutes``) and the iterations x the
    calibrated seconds per iteration (``calibrated_minutes``), and the torch threads it trained
    with (``OMP_NUM_THREADS``, else every CPU)."""
    curve = evaluation_curve(records, max_iter)
    if not curve or curve[-1]["iteration"] != max_iter:
        raise RuntimeError(
            f"{detector.slug} seed {seed}: no evaluation at the last iteration ({max_iter}) in "
            "its metrics.json; was the run stopped? Run the same command again to resume it."
        )
    for point in curve:
        point["minutes"] = measured_training_seconds(records, point["iteration"]) / 60.0
        point["calibrated_minutes"] = point["iteration"] * seconds_per_iteration / 60.0
    return {
        "name": detector.name,
        "slug": detector.slug,
        "config": detector.config,
        "seed": seed,
        "max_iter": max_iter,
        "seconds_per_iteration": seconds_per_iteration,
        "overrides": list(opts),
        "threads": int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count()),
        "wall_minutes": wall_s / 60.0,
        "curve": curve,
    }


# ---- 3. report --------------------------------------------------------------------------------


def load_runs(runs_dir: str) -> List[dict]:
    if not os.path.isdir(runs_dir):
        return []
    runs = []
    for name in sorted(os.listdir(runs_dir)):
        if name.endswith(".json"):
            with open(os.path.join(runs_dir, name)) as f:
                runs.append(json.load(f))
    return runs


def mean_and_spread(values: Sequence[float]):
    """Mean and half the range (max - min) / 2 of the seeds' values (0 for one seed)."""
    return statistics.fmean(values), (max(values) - min(values)) / 2.0


def summarize(runs: Sequence[dict], order: Sequence[str]) -> List[dict]:
    """Per detector (in ``order`` of slugs, those with runs only): seeds, and for the last
    point and for every point its calibrated minutes and the mean and spread over seeds of each
    metric; per run, its measured / calibrated training time and threads. Points are matched by
    their index along the run (every seed of a detector has the same budget)."""
    rows = []
    for slug in order:
        mine = sorted((r for r in runs if r["slug"] == slug), key=lambda r: r["seed"])
        if not mine:
            continue
        budgets = {r["max_iter"] for r in mine}
        if len(budgets) > 1:
            raise ValueError(f"{slug}: runs with different budgets {sorted(budgets)}")
        points = []
        for i, point in enumerate(mine[0]["curve"]):
            points.append(
                {
                    "iteration": point["iteration"],
                    "minutes": point["calibrated_minutes"],
                    **{
                        metric: mean_and_spread([r["curve"][i]["bbox"][metric] for r in mine])
                        for metric in METRICS
                    },
                }
            )
        rows.append(
            {
                "slug": slug,
                "name": mine[0]["name"],
                "config": mine[0]["config"],
                "seeds": [r["seed"] for r in mine],
                "max_iter": mine[0]["max_iter"],
                "seconds_per_iteration": mine[0]["seconds_per_iteration"],
                "points": points,
                "final": points[-1],
                "timing": [
                    {
                        "seed": r["seed"],
                        # Older run files (before threads were recorded) trained with 2.
                        "threads": r.get("threads", 2),
                        "measured_over_calibrated": r["curve"][-1]["minutes"]
                        / r["curve"][-1]["calibrated_minutes"],
                    }
                    for r in mine
                ],
            }
        )
    return rows


def _over_seeds(mean_and_spread_of_seeds, seeds: int) -> str:
    """A table cell: "mean ± half-range", or the value alone for one seed."""
    mean, spread = mean_and_spread_of_seeds
    return f"{mean:.1f} ± {spread:.1f}" if seeds > 1 else f"{mean:.1f}"


def markdown_table(rows: Sequence[dict], throughput: Dict[str, dict]) -> str:
    """The final table: mean ± half-range over seeds at the end of the budget, with the
    budget's calibrated minutes, the throughput of the calibration and each run's measured /
    calibrated training time (its threads)."""
    lines = [
        "| detector | config | seeds | iterations x batch | training minutes | images/s | "
        + " | ".join(METRICS)
        + " | measured / calibrated time (threads) |",
        "|---" * (7 + len(METRICS)) + "|",
    ]
    for row in rows:
        speed = throughput.get(SAME_SPEED_AS.get(row["slug"], row["slug"]), {})
        cells = [
            row["name"],
            f"`{os.path.relpath(row['config'], 'configs')}`",
            ", ".join(str(s) for s in row["seeds"]),
            f"{row['max_iter']:,} x {speed.get('batch', '?')}",
            f"{row['final']['minutes']:.1f}",
            f"{speed['images_per_second']:.1f}" if speed else "",
        ]
        cells += [_over_seeds(row["final"][metric], len(row["seeds"])) for metric in METRICS]
        cells.append(
            ", ".join(
                f"{t['measured_over_calibrated']:.2f} ({t['threads']})" for t in row["timing"]
            )
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def curve_table(rows: Sequence[dict]) -> str:
    """AP at every point of the runs (mean ± half-range over seeds); a column per point,
    headed by the budget's calibrated minutes at it."""
    points = len(rows[0]["points"])
    budget = [p["minutes"] for p in rows[0]["points"]]
    lines = [
        "| detector | " + " | ".join(f"AP at {m:.0f} min" for m in budget) + " |",
        "|---" * (1 + points) + "|",
    ]
    for row in rows:
        cells = [row["name"]]
        for point in row["points"]:
            cells.append(_over_seeds(point["AP"], len(row["seeds"])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_ap_against_minutes(rows: Sequence[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 4.5))
    for row in rows:
        minutes = [0.0] + [p["minutes"] for p in row["points"]]
        mean = [0.0] + [p["AP"][0] for p in row["points"]]
        spread = [0.0] + [p["AP"][1] for p in row["points"]]
        seeds = len(row["seeds"])
        (line,) = axes.plot(
            minutes, mean, marker="o", label=f"{row['name']}: {seeds} seed{'s' * (seeds > 1)}"
        )
        axes.fill_between(
            minutes,
            [m - s for m, s in zip(mean, spread)],
            [m + s for m, s in zip(mean, spread)],
            color=line.get_color(),
            alpha=0.2,
        )
    axes.set_xlabel("training minutes (2 CPU cores, calibrated throughput)")
    axes.set_ylabel("AP, embedded val (standard difficulty)")
    axes.set_title("Time to accuracy (mean over seeds; band: min to max)")
    axes.grid(alpha=0.3)
    # Outside the axes: with more detectors than fit, an inside legend covers curves.
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(output: str, throughput: Dict[str, dict]) -> List[dict]:
    rows = summarize(load_runs(os.path.join(output, "runs")), [d.slug for d in ACCURACY_DETECTORS])
    if not rows:
        print(f"No finished runs in {output}/runs: no report.")
        return rows
    with open(os.path.join(output, "report.md"), "w") as f:
        f.write(markdown_table(rows, throughput) + "\n" + curve_table(rows))
    with open(os.path.join(output, "summary.json"), "w") as f:
        json.dump(rows, f, indent=2)
    plot_ap_against_minutes(rows, os.path.join(output, "ap_vs_minutes.png"))
    print(f"Report: {output}/report.md, {output}/ap_vs_minutes.png")
    return rows


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(os.path.join(args.output, "runs"), exist_ok=True)
    throughput_path = os.path.join(args.output, "throughput.json")
    calibration = {}
    if os.path.exists(throughput_path):
        with open(throughput_path) as f:
            calibration = json.load(f)
    detectors = select(args.only, ACCURACY_DETECTORS)
    throughput = calibration.get("detectors", {})
    measured = [d for d in ACCURACY_DETECTORS if d.slug not in SAME_SPEED_AS]
    if args.report_only:
        write_report(args.output, throughput)
        return
    stale = calibration and calibration.get("overrides") != args.opts
    if stale:
        print(f"{throughput_path} was measured with other overrides: measuring again")
    if args.recalibrate or stale or any(d.slug not in throughput for d in measured):
        # All of them, so that every ratio comes from the same run.
        print(f"Measuring training throughput of {len(measured)} detectors", flush=True)
        throughput = measure_throughput(measured, args.opts)
        calibration = {
            "machine": {
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "threads": args.threads,
                "torch": torch.__version__,
            },
            "overrides": args.opts,
            "detectors": throughput,
        }
        with open(throughput_path, "w") as f:
            json.dump(calibration, f, indent=2)
    for seed in args.seeds:
        for detector in detectors:
            run_path = os.path.join(args.output, "runs", f"{detector.slug}_seed{seed}.json")
            speed = throughput[SAME_SPEED_AS.get(detector.slug, detector.slug)]
            seconds_per_iteration = speed["seconds_per_iteration"]
            max_iter = budget_iterations(seconds_per_iteration, args.minutes, args.points)
            if os.path.exists(run_path):
                with open(run_path) as f:
                    finished = json.load(f)["max_iter"]
                if finished != max_iter:
                    raise SystemExit(
                        f"{run_path} is a run of {finished} iterations, this budget is {max_iter} "
                        f"({args.minutes:g} min): move it away, or use its --minutes."
                    )
                print(f"{detector.slug} seed {seed}: {run_path} exists, not trained again")
                continue
            print(
                f"{detector.name}, seed {seed}: {max_iter} iterations "
                f"({args.minutes:g} min at {seconds_per_iteration:.3f} s/it)",
                flush=True,
            )
            output_dir = run_dir(args.output, detector.slug, seed)
            wall_s = train(detector, output_dir, seed, max_iter, args.points, args.opts)
            record = run_record(
                detector,
                seed,
                max_iter,
                seconds_per_iteration,
                read_metrics(output_dir),
                wall_s,
                args.opts,
            )
            with open(run_path, "w") as f:  # after every run: nothing is lost on a stop
                json.dump(record, f, indent=2)
            final = record["curve"][-1]["bbox"]
            print(f"  AP {final['AP']:.2f}  AP50 {final['AP50']:.2f}  -> {run_path}", flush=True)
            write_report(args.output, throughput)
    write_report(args.output, throughput)


if __name__ == "__main__":
    main()
