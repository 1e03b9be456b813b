"""Markdown tables and PNG plots from the JSON report of the cost suites (:mod:`.cost`): each
table and plot where the suites that it shows were run."""

import os
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")  # files only; no display
import matplotlib.pyplot as plt  # noqa: E402


def _accuracy(report: dict, slug: str) -> Dict[str, float]:
    return report.get("accuracy", {}).get("detectors", {}).get(slug, {}).get("bbox", {})


def _fmt(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(header: List[str], rows: List[List[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def cost_table(report: dict, device: str) -> str:
    results = report["devices"][device]
    rows = []
    for slug, r in results.items():
        info = report["detectors"][slug]
        acc = _accuracy(report, slug)
        rows.append(
            [
                info["name"],
                info["implementation"],
                _fmt(r["parameters_M"], 2),
                _fmt(r["gflops"], 1),
                _fmt(r["latency"]["median_ms"]),
                f"{_fmt(r['decode']['median_ms'])} ({100 * r['decode_share']:.0f}%)",
                _fmt(r["train_iteration"]["median_ms"], 0),
                f"{_fmt(r['inference_peak_MiB'], 0)} / {_fmt(r['train_peak_MiB'], 0)}",
                _fmt(acc.get("AP"), 2),
                _fmt(acc.get("AP50"), 2),
                " / ".join(_fmt(acc.get(k), 2) for k in ("APs", "APm", "APl")),
            ]
        )
    batch = next(iter(results.values()))["train_iteration"]["batch"]
    return _table(
        [
            "detector",
            "implementation",
            "params (M)",
            "GFLOPs",
            "latency (ms)",
            "decode (ms, share)",
            f"train iter, batch {batch} (ms)",
            "peak MiB infer / train",
            "AP",
            "AP50",
            "APs / APm / APl",
        ],
        rows,
    )


def anchor_table(report: dict, device: str) -> str:
    results = report["devices"][device]
    object_counts = list(next(iter(results.values()))["targets_by_objects"])
    shown = [n for n in object_counts if n in ("10", "100", "1000")] or object_counts
    rows = []
    for slug, r in results.items():
        info = report["detectors"][slug]
        rows.append(
            [
                info["name"],
                "no" if not info["anchor_free"] else "yes",
                f"{r['predictions_per_image']:,}",
                *(_fmt(r["targets_by_objects"][n]["median_ms"], 2) for n in shown),
                f"{len(info['hyperparameters'])}: " + ", ".join(info["hyperparameters"]),
                _fmt(_accuracy(report, slug).get("AP"), 2),
            ]
        )
    return _table(
        [
            "detector",
            "anchor-free",
            "dense candidates / image",
            *(f"targets, {n} objects (ms)" for n in shown),
            "detection settings to tune",
            "AP",
        ],
        rows,
    )


def size_table(report: dict, device: str) -> str:
    results = report["devices"][device]
    sizes = list(next(iter(results.values()))["latency_by_size"])
    rows = [
        [
            report["detectors"][slug]["name"],
            *(_fmt(r["latency_by_size"][s]["median_ms"]) for s in sizes),
        ]
        for slug, r in results.items()
    ]
    return _table(["detector", *(f"{s}² (ms)" for s in sizes)], rows)


def _measured(report: dict, device: str, key: str) -> bool:
    """Whether the report's detectors on ``device`` have the measurement ``key``."""
    return all(key in r for r in report["devices"][device].values())


def _plot_curves(ax, report, device, key, title, log=True):
    for slug, r in report["devices"][device].items():
        xs = [int(k) for k in r[key]]
        ax.plot(
            xs,
            [v["median_ms"] for v in r[key].values()],
            marker="o",
            label=report["detectors"][slug]["name"],
        )
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_ylabel("ms (median)")
    ax.grid(True, which="both", alpha=0.3)


def plots(report: dict, out_dir: str) -> List[str]:
    written = []
    for device in report["devices"]:
        written += _device_plots(report, device, out_dir)
    return written


def _device_plots(report: dict, device: str, out_dir: str) -> List[str]:
    written = []
    if _measured(report, device, "latency_by_size"):
        fig, ax = plt.subplots(figsize=(6, 4))
        _plot_curves(
            ax,
            report,
            device,
            "latency_by_size",
            f"Latency against image size ({device})",
            log=False,
        )
        ax.set_xlabel("image side (px)")
        ax.legend()
        written.append(_save(fig, out_dir, f"latency_vs_size_{device}.png"))
    if _measured(report, device, "targets_by_objects"):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        _plot_curves(axes[0], report, device, "targets_by_objects", "Target generation")
        _plot_curves(axes[1], report, device, "decode_by_objects", "Decoding")
        for ax in axes:
            ax.set_xlabel("objects in the image (512x512)")
        axes[1].legend()
        written.append(_save(fig, out_dir, f"objects_{device}.png"))
    if "accuracy" in report and _measured(report, device, "latency"):
        fig, ax = plt.subplots(figsize=(6, 4))
        for slug, r in report["devices"][device].items():
            ap = _accuracy(report, slug).get("AP")
            if ap is None:
                continue
            ax.scatter(r["latency"]["median_ms"], ap, s=40)
            ax.annotate(
                report["detectors"][slug]["name"],
                (r["latency"]["median_ms"], ap),
                textcoords="offset points",
                xytext=(5, 5),
            )
        ax.set_xlabel(f"latency per image, {device} (ms)")
        ax.set_ylabel("COCO AP, embedded val")
        ax.set_title("AP against latency (same CPU training budget)")
        ax.grid(True, alpha=0.3)
        written.append(_save(fig, out_dir, f"ap_vs_latency_{device}.png"))
    return written


def _save(fig, out_dir: str, name: str) -> str:
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(report: dict, out_dir: str) -> str:
    """Write ``results.md`` and the plots into ``out_dir``; returns the markdown."""
    os.makedirs(out_dir, exist_ok=True)
    env = report["environment"]
    sections = [
        f"Measured with `{report['command']}` on {env['platform']}, {env['cpu_count']} CPUs "
        f"({env['threads']} torch threads), torch {env['torch']}"
        + (f", {env['cuda_device']}" if "cuda_device" in env else "")
        + "."
    ]
    if "accuracy" in report:
        sections.append(
            "AP: COCOEvaluator on `anchorfree_shapes_val` at the end of the same number of "
            "training minutes, mean over seeds (`python tools/train_accuracy.py`)."
        )
    for device in report["devices"]:
        if _measured(report, device, "latency"):
            sections += [f"### Cost per detector ({device})", cost_table(report, device)]
        if _measured(report, device, "latency") and _measured(report, device, "targets_by_objects"):
            sections += [
                f"### Anchor-based against anchor-free ({device})",
                anchor_table(report, device),
            ]
        if _measured(report, device, "latency_by_size"):
            sections += [f"### Latency against image size ({device})", size_table(report, device)]
    images = plots(report, out_dir)
    sections.append("Plots: " + ", ".join(f"`{os.path.basename(p)}`" for p in images))
    markdown = "\n\n".join(sections) + "\n"
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(markdown)
    return markdown
