"""Turn the newest ``results/*.json`` into README tables, target verdicts and a plot.

``python -m benchmarks report`` rewrites the part of ``benchmarks/README.md`` between the
``<!-- results:start -->`` and ``<!-- results:end -->`` markers and writes
``results/speedup.png``. Everything it prints is computed from the committed results.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

__all__ = ["main", "targets"]

HERE = Path(__file__).parent
RESULTS = HERE / "results"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _latest(suffix: str) -> dict[str, Any] | None:
    files = sorted(RESULTS.glob(f"*-{suffix}.json"))
    files = [f for f in files if f.name[:10].replace("-", "").isdigit()]
    return json.loads(files[-1].read_text()) if files else None


def _row(data: dict[str, Any], subject: str, threads: int, latency: float) -> dict[str, Any]:
    for row in data["summary"]:
        if (row["subject"], row["threads"], row["latency_ms"]) == (subject, threads, latency):
            return row
    raise KeyError((subject, threads, latency))


def _per_rep(data: dict[str, Any], subject: str, threads: int, latency: float) -> dict[int, float]:
    return {
        r["rep"]: r["wall"]
        for r in data["runs"]
        if (r["subject"], r["threads"], r["latency_ms"]) == (subject, threads, latency)
    }


def _ratio(num: dict[int, float], den: dict[int, float]) -> tuple[float, float, float]:
    """Median, min and max over repetitions of the per-repetition ratio."""
    values = [num[k] / den[k] for k in num if k in den]
    return statistics.median(values), min(values), max(values)


def _overhead(data: dict[str, Any], threads: int, lat: float) -> dict[int, float]:
    slow, fast = (
        _per_rep(data, "metaingest", threads, lat),
        _per_rep(data, "metaingest", threads, 0),
    )
    return {k: slow[k] - fast[k] for k in slow if k in fast}


def _fmt(value: tuple[float, float, float], of_medians: float | None = None) -> str:
    med, lo, hi = value
    text = f"{med:.2f} ({lo:.2f}-{hi:.2f})"
    return text if of_medians is None else f"{text}; ratio of medians {of_medians:.2f}"


def _med(data: dict[str, Any], subject: str, threads: int, latency: float) -> float:
    return float(_row(data, subject, threads, latency)["wall_s"]["median"])


def targets() -> list[tuple[str, str, str, bool | None]]:
    """(target, limit, measured, met) for every target that has results."""
    out: list[tuple[str, str, str, bool | None]] = []
    for engine, wall_limit, ovh_limit in (("postgres", 1.3, 1 / 5), ("mariadb", 1.5, 1 / 4)):
        data = _latest(engine)
        if data is None:
            continue
        lat = max(r["latency_ms"] for r in data["summary"])
        for subject, label in (
            ("metaingest", "wall threads 4 / reference, no latency"),
            ("metaingest-api", "same, library API (process's default GC policy)"),
        ):
            runs = _per_rep(data, subject, 4, 0)
            if not runs:  # the API subject is absent from sweeps made before it existed
                continue
            wall = _ratio(runs, _per_rep(data, "reference", 1, 0))
            of_medians = _med(data, subject, 4, 0) / _med(data, "reference", 1, 0)
            out.append((f"{engine}: {label}", f"≤ {wall_limit}",
                        _fmt(wall, of_medians), wall[0] <= wall_limit))  # fmt: skip
        if engine == "postgres":
            rss = _row(data, "metaingest", 4, 0)["max_rss_mb"]
            out.append(("postgres: peak RSS threads 4", "≤ 80 MB",
                        f"{rss['median']:.1f} MB ({rss['min']:.1f}-{rss['max']:.1f})",
                        rss["median"] <= 80))  # fmt: skip
        o1, o8 = _overhead(data, 1, lat), _overhead(data, 8, lat)
        ovh = _ratio(o8, o1)
        of_medians = (_med(data, "metaingest", 8, lat) - _med(data, "metaingest", 8, 0)) / (
            _med(data, "metaingest", 1, lat) - _med(data, "metaingest", 1, 0)
        )
        out.append((f"{engine}: latency overhead threads 8 / threads 1 ({lat:g} ms each way)",
                    f"≤ {ovh_limit:.2f}", _fmt(ovh, of_medians), ovh[0] <= ovh_limit))  # fmt: skip
        if engine == "postgres":
            slow = _ratio(_per_rep(data, "metaingest", 8, lat), _per_rep(data, "reference", 1, lat))
            of_medians = _med(data, "metaingest", 8, lat) / _med(data, "reference", 1, lat)
            out.append((f"postgres: wall threads 8 / reference, both through {lat:g} ms proxy",
                        "≤ 2", _fmt(slow, of_medians), slow[0] <= 2))  # fmt: skip
        bad = [
            f"{r['subject']} t={r['threads']} lat={r['latency_ms']:g}: "
            f"{r['peak_server_connections']}"
            for r in data["summary"]
            if r["peak_server_connections"] != r["threads"]
        ]
        out.append((f"{engine}: peak server connections == threads, every configuration",
                    "== threads", "all equal" if not bad else "; ".join(bad), not bad))  # fmt: skip
    for engine in ("postgres", "mariadb"):
        data = _latest(f"{engine}-roundtrips")
        if data is None:
            continue
        rows = data["rows"]
        by_tables: dict[int, list[int]] = {}
        for row in rows:
            by_tables.setdefault(row["schemas"], []).append(row["metaingest"]["turns"])
        text = "; ".join(
            f"{r['schemas']}x{r['tables_per_schema']}: {r['metaingest']['turns']}" for r in rows
        )
        constant = all(len(set(v)) == 1 for v in by_tables.values())
        out.append((f"{engine}: round trips independent of tables per schema (turns)",
                    "no growth", text, constant))  # fmt: skip
    out.extend(_tenant_targets())
    scale = _latest("postgres-scaling")
    finished = [r for r in scale["rows"] if "wall_s" in r] if scale is not None else []
    if len(finished) >= 2:
        small, big = finished[0], finished[-1]
        rss = big["max_rss_mb"]["median"] / small["max_rss_mb"]["median"]
        per = big["wall_per_table_ms"] / small["wall_per_table_ms"]
        names = f"{big['tables_and_views']} vs {small['tables_and_views']} tables"
        out.append((f"peak RSS, {names}", "≤ 1.3", f"{rss:.2f}", rss <= 1.3))
        out.append((f"wall/table, {names}", "≤ 1.5", f"{per:.2f}", per <= 1.5))
        bad_conns = [r["catalog"] for r in finished if r["peak_server_connections"] != 4]
        seen = "all equal" if not bad_conns else ", ".join(bad_conns)
        out.append(("scaling: peak server connections == threads (4)", "== 4", seen, not bad_conns))
    return out


# (results suffix, label, [(threads, latency ms, limit)]): issue 15's multi-tenant shapes
# (benchmarks/tenants.py); MariaDB's limits are set from its first measurement (README).
TENANT_TARGETS = [
    ("tenants-postgres-dbs", "postgres, 60 databases x 2 schemas", [(4, 0.0, 0.8), (8, 2.0, 0.5)]),
    ("tenants-postgres-schemas-catalog-only", "postgres, 1000 schemas (catalog only)",
     [(4, 0.0, 1.0), (8, 2.0, 1.2)]),
    ("tenants-mariadb-schemas-catalog-only", "mariadb, 1000 schemas (catalog only)",
     [(4, 0.0, 3.5), (8, 2.0, 4.0)]),
]  # fmt: skip


def _tenant_targets() -> list[tuple[str, str, str, bool | None]]:
    out: list[tuple[str, str, str, bool | None]] = []
    for suffix, label, limits in TENANT_TARGETS:
        data = _latest(suffix)
        if data is None:
            continue
        for threads, lat, limit in limits:
            ratio = _ratio(_per_rep(data, "metaingest", threads, lat),
                           _per_rep(data, "reference", 1, lat))  # fmt: skip
            out.append((f"{label}: wall threads {threads} / reference, {lat:g} ms",
                        f"≤ {limit}", _fmt(ratio), ratio[0] <= limit))  # fmt: skip
        over = sorted({f"t{r['threads']}: {r['peak_server_connections']}" for r in data["runs"]
                       if r["peak_server_connections"] > r["threads"]})  # fmt: skip
        load = [r["load1"] for r in data["runs"]]
        out.append((f"{label}: peak server connections ≤ threads (load {min(load):.1f}-"
                    f"{max(load):.1f})", "≤ threads", ", ".join(over) or "all within",
                    not over))  # fmt: skip
    return out


def _sweep_table(data: dict[str, Any]) -> list[str]:
    lines = [
        f"**{data['engine']}**, catalog {data['catalog']}, commit {data['environment']['commit']},"
        f" {data['environment']['date']}, load average at start"
        f" {data['environment']['loadavg_start'][0]:.1f} on {data['environment']['cpus']} CPUs",
        "",
        "| subject | threads | latency ms | wall s median (min-max) | CPU s | peak RSS MB"
        " | peak conns | tables+views/s | speed-up |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in sorted(data["summary"], key=lambda r: (r["latency_ms"], r["subject"], r["threads"])):
        w, c, m = row["wall_s"], row["cpu_s"], row["max_rss_mb"]
        try:
            base = _row(data, row["subject"], 1, row["latency_ms"])["wall_s"]["median"]
            speedup = f"{base / w['median']:.2f}"
        except KeyError:  # a subject measured at one configuration only
            speedup = "—"
        lines.append(
            f"| {row['subject']} | {row['threads']} | {row['latency_ms']:g} |"
            f" {w['median']:.3f} ({w['min']:.3f}-{w['max']:.3f}) | {c['median']:.2f} |"
            f" {m['median']:.1f} | {row['peak_server_connections']} | {row['tables_per_s']:.0f} |"
            f" {speedup} |"
        )
    return lines


def _plot() -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    engines = [e for e in ("postgres", "mariadb") if _latest(e) is not None]
    if not engines:
        return None
    fig, axes = plt.subplots(1, len(engines), figsize=(5.5 * len(engines), 4), squeeze=False)
    for ax, engine in zip(axes[0], engines, strict=True):
        data = _latest(engine)
        assert data is not None
        threads = sorted({r["threads"] for r in data["summary"] if r["subject"] == "metaingest"})
        for lat in sorted({r["latency_ms"] for r in data["summary"]}):
            base = _row(data, "metaingest", 1, lat)["wall_s"]["median"]
            ys = [base / _row(data, "metaingest", t, lat)["wall_s"]["median"] for t in threads]
            ax.plot(threads, ys, marker="o", label=f"{lat:g} ms each way")
        ax.plot(threads, threads, linestyle=":", color="grey", label="linear")
        ax.set(title=f"{engine} {data['catalog']}", xlabel="threads", ylabel="speed-up vs 1")
        ax.set_xscale("log", base=2)
        ax.set_xticks(threads, [str(t) for t in threads])
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = RESULTS / "speedup.png"
    fig.savefig(path, dpi=100)
    return path


def render() -> str:
    """The Markdown between the README markers."""
    lines = ["### Targets", "",
             "Verdict on the median over repetitions of the per-repetition ratio.", "",
             "| target | limit | measured: median (min-max over reps) | met |",
             "|---|---|---|---|"]  # fmt: skip
    for name, limit, measured, met in targets():
        lines.append(f"| {name} | {limit} | {measured} | {'yes' if met else '**no**'} |")
    for engine in ("postgres", "mariadb"):
        data = _latest(engine)
        if data is not None:
            lines += ["", f"### Sweep: {engine}", "", *_sweep_table(data)]
    scale = _latest("postgres-scaling")
    if scale is not None:
        lines += ["", "### Scaling: PostgreSQL, threads 4", "",
                  "| catalog | tables+views | build s | wall s | wall/table ms | peak RSS MB"
                  " | CPU s | peak conns |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in scale["rows"]:
            if "wall_s" not in r:
                lines.append(
                    f"| {r['catalog']} | did not finish within {r['unfinished_after_s']:g} s |"
                )
                continue
            lines.append(
                f"| {r['catalog']} | {r['tables_and_views']} | {r['build_s'] or 'reused'} |"
                f" {r['wall_s']['median']:.2f} | {r['wall_per_table_ms']:.3f} |"
                f" {r['max_rss_mb']['median']:.1f} | {r['cpu_s']['median']:.2f} |"
                f" {r['peak_server_connections']} |"
            )
    for engine in ("postgres", "mariadb"):
        data = _latest(f"{engine}-roundtrips")
        if data is not None:
            lines += ["", f"### Round trips: {engine}, threads 1, through the proxy", "",
                      "| schemas x tables | metaingest turns | reference turns |",
                      "|---|---:|---:|"]  # fmt: skip
            for r in data["rows"]:
                lines.append(
                    f"| {r['schemas']} x {r['tables_per_schema']} | {r['metaingest']['turns']}"
                    f" | {r['reference']['turns']} |"
                )
    return "\n".join(lines)


def main() -> None:
    """Rewrite the README's results section and the plot."""
    readme = HERE / "README.md"
    text = readme.read_text() if readme.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(f"{head}{START}\n{render()}\n{END}{tail}")
    plot = _plot()
    print(f"wrote {readme}" + (f" and {plot}" if plot else " (no matplotlib: no plot)"))
