"""The benchmark's outputs: ``results.json`` (everything), ``results.md`` (tables), ``results.png`` (chart).

This module only formats what ``benchmarks.__main__.run`` measured; it measures nothing itself.
"""

from __future__ import annotations

import json
from pathlib import Path

MIB = 2**20
_SPEED_NOTE = (
    "Times are the median of the rounds, with the fastest and slowest round. *× PyTorch* is "
    "PyTorch's time / the engine's (higher is better); *time / CT2* is the engine's time / "
    "CTranslate2's (lower is better). *new tok/s* counts every sequence's new tokens. "
    "*Peak RSS* is the engine process's highest resident memory while loading or generating. "
    "*Same tokens* is the share of new tokens equal to PyTorch's."
)
_PARTIAL_NOTE = "**Partial results: the run has not finished (or was interrupted).**"
_SPEED_HEADER = (
    "| batch | beams | engine | median s | min–max s | new tok/s | × PyTorch | time / CT2 "
    "| peak RSS MiB | same tokens |"
)
_LOAD_NOTE = (
    "Load is measured in a fresh process: *import* is the engine's libraries, *load* is from "
    "imported to ready to generate. Export is the first-run conversion of the checkpoint "
    "(ours: export, and for int8 also quantize; CTranslate2: its converter), in a child "
    "process from its start to done, with that process's peak RSS."
)


def _mib(value: int | None) -> str:
    if value is None:
        return "–"
    return f"{value / MIB:,.1f}" if value < 10 * MIB else f"{value / MIB:,.0f}"


def _num(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{suffix}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _load(snapshot: dict | None) -> str:
    if snapshot is None:
        return "not measured (the run did not finish)"
    loads = snapshot.get("loadavg_1_5_15")
    text = (
        f"load average {' / '.join(f'{x:.2f}' for x in loads)}" if loads else "load average unknown"
    )
    return f"{text}, CPU {snapshot['cpu_busy_percent']:.0f}% busy over 1 s"


def markdown(results: dict) -> str:
    m, s, code = results["machine"], results["settings"], results["code"]
    machine = (
        f"{m['cpu']}, {m['physical_cores']} physical cores, {m['logical_cpus']} logical CPUs "
        f"({m['usable_cpus']} usable), {m['ram_gb']} GB RAM; {m['os']}; Python {m['python']}"
    )
    changed = ", with uncommitted changes under engine/" if code["engine_changed"] else ""
    work = (
        f"{s['input_tokens']} input tokens, exactly {s['new_tokens']} new tokens per sequence, "
        f"{s['threads']} threads for every engine; {s['warmup']} warm-up round(s), then "
        f"{s['rounds']} interleaved round(s), {s['pause']} s idle before each call"
    )
    before, after = _load(results["load_before"]), _load(results["load_after"])
    lines = [
        "# Pegasus Desktop benchmark",
        "",
        *([] if results.get("complete", True) else [_PARTIAL_NOTE, ""]),
        f"- Command: `{results['command']}`",
        f"- Machine: {machine}",
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
        f"- Code: commit `{(code['commit'] or 'unknown')[:12]}`{changed}",
        f"- Work: {work}",
        f"- Machine load before: {before}; after: {after}",
        "",
        _SPEED_NOTE,
        "",
        "## Speed",
    ]
    for name, shape in results["shapes"].items():
        lines += [
            "",
            f"### {name} ({shape['about']})",
            "",
            _SPEED_HEADER,
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in (r for r in results["rows"] if r["shape"] == name):
            st = r["stats"]
            lines.append(
                f"| {r['batch']} | {r['beams']} | {r['label']} | {st['median']:.2f} | "
                f"{st['minimum']:.2f}–{st['maximum']:.2f} | {r['tokens_per_s']:.1f} | "
                f"{_num(r['speedup_vs_pytorch'], suffix='×')} | {_num(r['time_vs_ct2'])} | "
                f"{_mib(r['peak_rss'])} | {_share(r['same_tokens_as_pytorch'])} |"
            )
    lines += [
        "",
        "## Size on disk, load and first-run export",
        "",
        _LOAD_NOTE,
    ]
    for name, shape in results["shapes"].items():
        lines += [
            "",
            f"### {name}",
            "",
            "| engine | on disk MiB | import s | load s | peak RSS loading MiB | export s | export peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for engine, ready in shape["engines"].items():
            export = shape["exports"].get(engine, {})
            export_s = "reused" if export.get("reused") else _num(export.get("seconds"), 1)
            lines.append(
                f"| {_label(results, engine)} | {_mib(shape['disk_bytes'].get(engine))} | "
                f"{ready['import_s']:.2f} | {ready['load_s']:.2f} | {_mib(ready['load_peak_rss'])} | "
                f"{export_s} | {_mib(export.get('peak_rss'))} |"
            )
    return "\n".join(lines) + "\n"


def _label(results: dict, engine: str) -> str:
    return next((r["label"] for r in results["rows"] if r["engine"] == engine), engine)


def chart(results: dict, path: Path) -> None:
    """One panel per shape: median seconds per grid point and engine, whiskers at min and max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    shapes = list(results["shapes"])
    fig, axes = plt.subplots(
        1,
        len(shapes),
        figsize=(5 + 3.2 * len(shapes), 4.6),
        squeeze=False,
        gridspec_kw={
            "width_ratios": [
                max(1, len({(r["batch"], r["beams"]) for r in results["rows"] if r["shape"] == n}))
                for n in shapes
            ]
        },
    )
    engines = list(dict.fromkeys(r["engine"] for r in results["rows"]))
    width = 0.8 / max(1, len(engines))
    for ax, name in zip(axes[0], shapes):
        rows = [r for r in results["rows"] if r["shape"] == name]
        points = list(dict.fromkeys((r["batch"], r["beams"]) for r in rows))
        for i, engine in enumerate(engines):
            mine = {(r["batch"], r["beams"]): r for r in rows if r["engine"] == engine}
            xs = [
                j + (i - (len(engines) - 1) / 2) * width for j, p in enumerate(points) if p in mine
            ]
            st = [mine[p]["stats"] for p in points if p in mine]
            medians = [x["median"] for x in st]
            spread = [
                [x["median"] - x["minimum"] for x in st],
                [x["maximum"] - x["median"] for x in st],
            ]
            ax.bar(xs, medians, width, yerr=spread, capsize=2, label=_label(results, engine))
        ax.set_xticks(
            range(len(points)),
            [f"batch {b}\n{'greedy' if k == 1 else f'beams {k}'}" for b, k in points],
        )
        ax.set_title(name)
        ax.set_yscale("log")  # one slow engine must not flatten the others
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(  # label 2, 3 and 5 between the powers of ten
            FuncFormatter(lambda value, _: f"{value:g}" if f"{value:g}"[0] in "235" else "")
        )
        ax.set_ylabel("seconds for all new tokens, log scale (lower is better)")
        ax.grid(axis="y", alpha=0.3)
    s, m = results["settings"], results["machine"]
    fig.suptitle(
        f"{s['input_tokens']} input tokens → {s['new_tokens']} new tokens, {s['threads']} threads, "
        f"median of {s['rounds']} (whiskers: min–max) · {m['cpu']}",
        fontsize=9,
    )
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(results: dict, out: Path) -> list[Path]:
    """Write the three files into ``out``; return their paths (json, md, png)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.md", out / "results.png"]
    paths[0].write_text(json.dumps(results, indent=2) + "\n")
    paths[1].write_text(markdown(results))
    chart(results, paths[2])
    return paths
