"""The benchmark's report: docs/performance.md's results block and chart, regenerated from
bench/results.jsonl alone, in seconds and with no environment (`make bench-report`).

Every line of the results file is one measured run of one cell (variant, CLI, N), appended
by bench/run.py the moment the run ends, with the commit, CLI version, machine and date. The
report takes the runs of one commit only (the newest measured, or --commit), so no table
mixes commits, and states which commit and machine its figures come from.
"""
import argparse
import json
import os
import statistics
import sys

VARIANTS = ("meshtls", "go-providers", "floor")
VIA_LOCAL = ("meshtls-via-local", "floor-via-local")
PER_SERVICE = ("meshtls-module", "floor-module")
# Istio, the mesh users run now: per service a certificate and a STRICT policy with its
# DestinationRule, against terraform_data of the same shape.
ISTIO = ("meshtls-istio", "floor-istio")
# The map types: the same services in one resource instance per kind, the virtual nodes fed
# from the certificates by one `for` expression, against terraform_data maps of that shape.
MAP = ("meshtls-map", "floor-map")
ISTIO_MAP = ("meshtls-istio-map", "floor-istio-map")
ALL_VARIANTS = VARIANTS + VIA_LOCAL + PER_SERVICE + ISTIO + MAP + ISTIO_MAP
CLIS = ("tofu", "terraform")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.jsonl")


def load(path):
    """Every run recorded in the results file; a line cut short by an interruption is skipped."""
    runs = []
    if not os.path.exists(path):
        return runs
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                runs.append(json.loads(line))
            except json.JSONDecodeError:
                print(f"skipping an unreadable line of {path}", file=sys.stderr)
    return runs


def newest_commit(runs):
    """The commit of the most recently recorded run."""
    return max(runs, key=lambda r: r["date"])["commit"] if runs else None


def spread(values):
    """min, median and max of one measurement over the runs."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "samples": values}


def aggregate(runs, commit):
    """The runs of `commit`, by (variant, CLI, N): medians and spreads, as the tables use them."""
    cells = {}
    for r in runs:
        if r["commit"] == commit:
            cells.setdefault((r["variant"], r["cli"], r["n"]), []).append(r)
    results = {}
    for key, rs in cells.items():
        out = {phase: spread([r[phase] for r in rs]) for phase in ("apply", "plan", "destroy")}
        out["kube"] = max(r["kube"] for r in rs)
        out["appmesh"] = max(r["appmesh"] for r in rs)
        rss = [r["rss"] for r in rs if r.get("rss") is not None]
        out["rss"] = max(rss) if rss else None
        for phase in ("apply_cpu", "plan_cpu"):
            names = sorted({name for r in rs for name in r.get(phase, {})})
            out[phase] = {name: statistics.median(r[phase].get(name, 0.0) for r in rs) for name in names}
        out["state"] = next((r["state"] for r in rs if r.get("state")), None)
        out["runs"] = len(rs)
        out["cli_version"] = rs[-1].get("cli_version")
        results[key] = out
    return results


def fmt(value, unit=""):
    return "n/a" if value is None else f"{value:.1f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def seconds(m):
    """A time: the median, with min–max when there was more than one run."""
    if len(m["samples"]) == 1:
        return f"{m['median']:.1f}"
    return f"{m['median']:.1f} ({m['min']:.1f}–{m['max']:.1f})"


def resources(variant, n):
    """Managed objects: meshtls and the floor 2N+1 (in 3 resource instances with the map
    types), go-providers 6N+3."""
    return 6 * n + 3 if variant == "go-providers" else 2 * n + 1


def keys(results, n):
    """The results at one size, in the order of the tables."""
    return [(v, c, n) for v in ALL_VARIANTS for c in CLIS if (v, c, n) in results]


def table(results, sizes):
    rows = ["| N | variant | CLI | apply (s) | no-op plan (s) | destroy (s) | provider peak RSS (MiB) | kube API requests / resource (plan) | App Mesh requests / resource (plan) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for n in sizes:
        for key in keys(results, n):
            variant, cli, _ = key
            r = results[key]
            per = lambda x: f"{x / resources(variant, n):.2f}" if not variant.startswith("floor") else "0"  # noqa: E731
            rows.append(f"| {n} | {variant} | {cli} | {seconds(r['apply'])} | {seconds(r['plan'])} | {seconds(r['destroy'])} | {fmt(r['rss'])} | {per(r['kube'])} | {per(r['appmesh'])} |")
    return "\n".join(rows)


def cpu_table(results, sizes):
    """CPU seconds per process during apply and the no-op plan: where the time goes."""
    columns = ("cli", "provider", "kube-apiserver", "etcd", "moto")
    rows = ["| N | variant | CLI | phase | wall (s) | " + " | ".join(f"{c} CPU (s)" for c in columns) + " |",
            "|---|---|---|---|---|" + "---|" * len(columns)]
    for n in sizes:
        for key in keys(results, n):
            variant, cli, _ = key
            r = results[key]
            for phase in ("apply", "plan"):
                split = r[f"{phase}_cpu"]
                cells = " | ".join(fmt(split.get(c)) for c in columns)
                rows.append(f"| {n} | {variant} | {cli} | {'no-op plan' if phase == 'plan' else phase} | {r[phase]['median']:.1f} | {cells} |")
    return "\n".join(rows)


def state_table(results, sizes):
    """What the CLI decodes per instance of each resource type, from the largest size's state."""
    n = max(sizes)
    rows = ["| variant | resource type | instances | bytes / instance | values / instance |", "|---|---|---|---|---|"]
    for variant in ALL_VARIANTS:
        r = results.get((variant, "tofu", n))
        if not r or not r.get("state"):
            continue
        for type_name, s in r["state"].items():
            rows.append(f"| {variant} | `{type_name}` | {s['instances']} | {s['bytes_per_instance']} | {s['values_per_instance']} |")
    return "\n".join(rows)


RATIOS = (
    ("meshtls", "go-providers", "meshtls / go-providers"),
    ("meshtls", "floor", "meshtls / floor"),
    ("meshtls-via-local", "floor-via-local", "meshtls-via-local / floor-via-local"),
    ("meshtls-module", "floor-module", "meshtls-module / floor-module"),
    ("meshtls-module", "floor", "meshtls-module / floor"),
    ("meshtls-istio", "floor-istio", "meshtls-istio / floor-istio"),
    ("meshtls-map", "floor-map", "meshtls-map / floor-map"),
    ("meshtls-map", "floor", "meshtls-map / floor"),
    ("meshtls-map", "meshtls", "meshtls-map / meshtls"),
    ("meshtls-istio-map", "floor-istio-map", "meshtls-istio-map / floor-istio-map"),
    ("meshtls-istio-map", "meshtls-istio", "meshtls-istio-map / meshtls-istio"),
)


def rss_growth(results, sizes, small=500, large=2000):
    """The peak provider RSS of each variant that runs a provider, by N, and how much it grows
    from `small` to `large` services (the target asks for that growth to be stated)."""
    head = "| variant | CLI | " + " | ".join(f"N={n}" for n in sizes) + f" | {large} / {small} |"
    rows = [head, "|---|---|" + "---|" * (len(sizes) + 1)]
    for variant in ALL_VARIANTS:
        for cli in CLIS:
            peaks = {n: results[(variant, cli, n)]["rss"] for n in sizes if (variant, cli, n) in results}
            if not any(peaks.values()):
                continue  # no provider: the floors
            growth = peaks[large] / peaks[small] if peaks.get(small) and peaks.get(large) else None
            cells = [fmt(peaks.get(n), " MiB") if n in peaks else "–" for n in sizes]
            rows.append(f"| {variant} | {cli} | " + " | ".join(cells) + f" | {f'{growth:.2f}x' if growth else '–'} |")
    return "\n".join(rows)


def ratio(results, a, b, cli, n, phase):
    ra, rb = results.get((a, cli, n)), results.get((b, "tofu" if b == "go-providers" else cli, n))
    if not ra or not rb:
        return None
    return ra[phase]["median"] / rb[phase]["median"]


def ratios(results, sizes):
    rows = ["| N | CLI | | apply | no-op plan | destroy |", "|---|---|---|---|---|---|"]
    for n in sizes:
        for cli in CLIS:
            for a, b, label in RATIOS:
                values = [ratio(results, a, b, cli, n, p) for p in ("apply", "plan", "destroy")]
                if None in values:
                    continue
                rows.append(f"| {n} | {cli} | {label} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    return "\n".join(rows)


def chart(results, sizes, path):
    """Each phase against N on log-log axes, one line per variant and CLI: the slope shows
    how it grows (1 linear, 2 quadratic)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = (("apply", "apply"), ("plan", "no-op plan"), ("destroy", "destroy"))
    fig, axes = plt.subplots(1, len(phases), figsize=(6 * len(phases), 5), squeeze=False)
    colors = {"meshtls": "#2b7bb9", "go-providers": "#d9822b", "floor": "#8a8a8a", "meshtls-via-local": "#74a9cf",
              "floor-via-local": "#bdbdbd", "meshtls-module": "#08519c", "floor-module": "#525252",
              "meshtls-istio": "#31a354", "floor-istio": "#a1d99b", "meshtls-map": "#756bb1", "floor-map": "#bcbddc",
              "meshtls-istio-map": "#e6550d", "floor-istio-map": "#fdae6b"}
    for ax, (phase, title) in zip(axes[0], phases):
        for variant in ALL_VARIANTS:
            for cli, style in (("tofu", "-"), ("terraform", "--")):
                points = [(n, results[(variant, cli, n)][phase]["median"]) for n in sizes if (variant, cli, n) in results]
                # One size is a point, not yet a slope; it is drawn all the same.
                if not points:
                    continue
                ax.plot([p[0] for p in points], [p[1] for p in points], style, marker="o", color=colors[variant], label=f"{variant} ({cli})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("services (N)")
        ax.set_ylabel("seconds (median)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_results(page, block):
    """Replaces the results between the page's markers, keeping the prose around them."""
    start, end = "<!-- bench:results -->", "<!-- /bench:results -->"
    text = f"# Performance\n\n{start}\n{end}\n"
    if os.path.exists(page):
        with open(page) as f:
            text = f.read()
    if start not in text or end not in text:
        text += f"\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    with open(page, "w") as f:
        f.write(f"{head}{start}\n{block}{end}{tail}")


def block(runs, commit):
    """The results block of docs/performance.md for `commit`."""
    results = aggregate(runs, commit)
    sizes = sorted({n for (_, _, n) in results})
    mine = [r for r in runs if r["commit"] == commit]
    machines = sorted({r["machine"] for r in mine})
    versions = sorted({f"{r['cli']}: {r['cli_version']}" for r in mine})
    dates = sorted(r["date"] for r in mine)
    counts = ", ".join(f"N={n}: {', '.join(sorted({str(r['runs']) for (_, _, m), r in results.items() if m == n}))} run(s)" for n in sizes)
    missing = [f"{v} with {c} at N={n}" for n in sizes for v in ALL_VARIANTS for c in CLIS if (v, c, n) not in results and expected(v, c, n)]
    missing_text = f" Not measured at this commit yet: {'; '.join(missing)}." if missing else ""
    return (
        f"Every figure below is from commit `{commit}`, measured {dates[0][:10]} to {dates[-1][:10]} on "
        f"{'; '.join(machines)} ({'; '.join(versions)}). Median of the runs ({counts}), with min–max where there "
        f"were more; peak RSS is the largest seen.{missing_text}\n\n{table(results, sizes)}\n\n"
        f"Ratios (medians):\n\n{ratios(results, sizes)}\n\nPeak provider RSS by N:\n\n{rss_growth(results, sizes)}\n\n"
        f"State per resource instance at N={max(sizes)} (OpenTofu):\n\n"
        f"{state_table(results, sizes)}\n\nCPU time by process:\n\n{cpu_table(results, sizes)}\n"
    )


def expected(variant, cli, n):
    """Whether the benchmark runs this cell: go-providers with OpenTofu at N <= 500 only."""
    if variant == "go-providers":
        return cli == "tofu" and n <= 500
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=RESULTS)
    ap.add_argument("--commit", help="the commit whose runs to report; the newest measured by default")
    ap.add_argument("--page", default="docs/performance.md")
    ap.add_argument("--chart", default="docs/performance.png", help="'' for no chart")
    args = ap.parse_args(argv)
    runs = load(args.results)
    commit = args.commit or newest_commit(runs)
    if not commit or not any(r["commit"] == commit for r in runs):
        sys.exit(f"no runs of commit {commit} in {args.results}: run `make bench` first")
    write_results(args.page, block(runs, commit))
    if args.chart:
        results = aggregate(runs, commit)
        chart(results, sorted({n for (_, _, n) in results}), args.chart)
    print(f"wrote the results of commit {commit} into {args.page}" + (f" and {args.chart}" if args.chart else ""))


if __name__ == "__main__":
    main()
