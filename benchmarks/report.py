"""Tables and goal lines of the throughput benchmark (thresholds from ``goals.json``)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

COLUMNS = (
    "arch", "configuration", "XLA", "steps/exec", "images/s (median)", "ratio to baseline",
    "MFLOP/image (train)", "GFLOP/s", "% of peak", "images per CPU-s", "CPU ratio", "peak RSS (MiB)",
    "test -ELBO (nats, mean ± sd over seeds)",
)  # fmt: skip
ALIGN = ("---",) * 4 + ("---:",) * 9


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> list[str]:
    """Lines of a Markdown table; ``align`` entries are ``"---"`` (left) or ``"---:"`` (right)."""
    align = align or ["---"] * len(columns)
    return ["| " + " | ".join(columns) + " |", "|" + "|".join(align) + "|"] + [
        "| " + " | ".join(str(c) for c in row) + " |" for row in rows
    ]


def summarize(arch: str, results: dict[str, list[dict]], peak_gflops: float | None) -> list[dict]:
    """One row per configuration of ``arch``: medians over its repeats, ratios to ``baseline``."""
    base = results["baseline"]
    base_ips = statistics.median(o["images_per_s"] for o in base)
    base_cpu = statistics.median(o["images_per_cpu_s"] for o in base)
    rows = []
    for name, outs in results.items():
        ips = statistics.median(o["images_per_s"] for o in outs)
        flops = outs[0]["train_flops_per_image"]
        gflops = ips * flops / 1e9
        elbos = [o["test_neg_elbo"] for o in outs]
        rows.append(
            {
                "arch": arch,
                "name": name,
                "images_per_s": ips,
                "ratio": ips / base_ips,
                "min_ratio": min(o["images_per_s"] for o in outs) / base_ips,
                "max_rss_mib": max(o["max_rss_mib"] for o in outs),
                "images_per_cpu_s": statistics.median(o["images_per_cpu_s"] for o in outs),
                "cpu_ratio": statistics.median(o["images_per_cpu_s"] for o in outs) / base_cpu,
                "mflop_per_image": flops / 1e6,
                "gflops": gflops,
                "peak_fraction": gflops / peak_gflops if peak_gflops else float("nan"),
                "test_neg_elbo": statistics.fmean(elbos),
                "test_neg_elbo_sd": statistics.stdev(elbos) if len(elbos) > 1 else 0.0,
                "test_neg_elbos": elbos,
                "jit": outs[0]["jit_compile"],
                "spe": outs[0]["steps_per_execution"],
            }
        )
    return rows


def table_lines(table: list[dict]) -> list[str]:
    """The results table in Markdown."""
    rows = [
        (
            row["arch"], row["name"], "yes" if row["jit"] else "no", row["spe"], f"{row['images_per_s']:,.0f}",
            f"{row['ratio']:.2f}", f"{row['mflop_per_image']:.2f}", f"{row['gflops']:.1f}",
            f"{100 * row['peak_fraction']:.1f}", f"{row['images_per_cpu_s']:,.0f}", f"{row['cpu_ratio']:.2f}",
            f"{row['max_rss_mib']:.0f}", f"{row['test_neg_elbo']:.2f} ± {row['test_neg_elbo_sd']:.2f}",
        )  # fmt: skip
        for row in table
    ]
    return markdown_table(COLUMNS, rows, ALIGN)


def _row(table: list[dict], arch: str, name: str) -> dict | None:
    return next((r for r in table if r["arch"] == arch and r["name"] == name), None)


def goal_lines(table: list[dict], archs: Sequence[str], goals: dict) -> list[str]:
    """Per arch: vae_tf / baseline against its goal, vae_tf / PyTorch (when run) and whether the
    held-out -ELBOs differ by more than two standard errors of the seed-to-seed spread."""
    lines = []
    for arch in archs:
        fast_row, base_row = _row(table, arch, "vae_tf"), _row(table, arch, "baseline")
        ratio = fast_row["ratio"]
        line = f"{arch}: vae_tf / baseline = {ratio:.2f} (goal >= {goals['ratio_to_baseline'][arch]})"
        if arch in goals.get("pytorch_equivalent", {}):
            ref = goals["pytorch_equivalent"][arch]
            torch_ips, base_ips = ref["pytorch_images_per_s"], ref["baseline_images_per_s"]
            line += f"; PyTorch-equivalent target {torch_ips:,}/{base_ips:,} = {torch_ips / base_ips:.2f}"
        lines.append(line)
        torch_row = _row(table, arch, "pytorch")
        if torch_row:
            lines.append(
                f"{arch}: vae_tf / PyTorch (same run) = {ratio / torch_row['ratio']:.2f} "
                f"(PyTorch / baseline = {torch_row['ratio']:.2f})"
            )
        n = len(base_row["test_neg_elbos"])
        if n > 1:
            diff = fast_row["test_neg_elbo"] - base_row["test_neg_elbo"]
            se = ((base_row["test_neg_elbo_sd"] ** 2 + fast_row["test_neg_elbo_sd"] ** 2) / n) ** 0.5
            lines.append(
                f"{arch}: held-out -ELBO, vae_tf - baseline = {diff:+.2f} nats (2 standard errors: {2 * se:.2f}; "
                f"{n} seeds each): {'within' if abs(diff) <= 2 * se else 'OUTSIDE'} seed-to-seed noise"
            )
    return lines
