#!/usr/bin/env python3
"""Summarises a batched-GPTQ profile (bench/device/profile-gptq.sh): stage tables from `moequant bench gptq --stages`
JSON Lines, and a per-kernel table from two Nsight Compute raw CSV exports of the same profiled expert.

  --ncu-all     every launch of the profiled range, with gpu__time_duration.sum (counts and times come from here)
  --ncu-detail  sampled launches with throughput, pipe and occupancy metrics (their percentages come from here,
                averaged over each kernel's sampled launches, weighted by duration)

Limiter rule, per kernel (percentages of peak, NVIDIA's speed-of-light reading):
  mem = max(DRAM %, memory %)   (memory % = gpu__compute_memory_throughput: the busiest of L1, L2 and DRAM)
  if max(SM %, mem) < 60        -> latency         (neither the SMs nor memory are near peak: too little parallel work,
                                                     dependent steps, launch-bound short kernels)
  elif mem >= SM %              -> memory
  elif tensor % >= FP32 %       -> compute-tensor
  else                          -> compute-fp32    (SM-bound on the non-tensor pipes; FP32 % shows how much is FMA)
Only Python's standard library is used (the GPU machine's python3 runs it).
"""
import argparse
import csv
import json
import math
import re
import sys
from collections import OrderedDict, defaultdict

LATENCY_THRESHOLD = 60.0

DURATION = ["gpu__time_duration.sum"]
SM = ["sm__throughput.avg.pct_of_peak_sustained_elapsed"]
MEMORY = ["gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed"]
DRAM = ["dram__throughput.avg.pct_of_peak_sustained_elapsed", "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed"]
TENSOR = re.compile(r"^sm__(pipe_tensor\w*cycles_active|inst_executed_pipe_tensor\w*)\.avg\.pct_of_peak_sustained_(active|elapsed)$")
FP32 = re.compile(r"^sm__(pipe_fma\w*cycles_active|inst_executed_pipe_fma\w*)\.avg\.pct_of_peak_sustained_(active|elapsed)$")
ACHIEVED = ["sm__warps_active.avg.pct_of_peak_sustained_active"]
THEORETICAL = ["sm__maximum_warps_per_active_cycle_pct"]
REGISTERS = ["launch__registers_per_thread"]
LOCAL = re.compile(r"^l1tex__t_(sectors|bytes)_pipe_lsu_mem_local_op_(ld|st)\.sum$")
NAME_COLUMNS = ["Kernel Name", "Function Name", "Name"]


def number(text):
    """A float from an ncu CSV cell ('1,234.5', 'n/a', '')."""
    if text is None:
        return None
    cleaned = text.replace(",", "").strip()
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


TIME_UNITS = {"nsecond": 1.0, "ns": 1.0, "usecond": 1e3, "us": 1e3, "msecond": 1e6, "ms": 1e6, "second": 1e9, "s": 1e9}


def read_ncu_csv(path):
    """Rows of an `ncu --csv --page raw` export as dicts; durations are converted to nanoseconds with the units row."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        lines = [line for line in f if not line.startswith("==")]  # ncu's own log lines, if any slipped in
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return [], []
    rows, units = [], {}
    for cells in reader:
        if not cells or len(cells) < len(header):
            continue
        row = dict(zip(header, cells))
        if not re.fullmatch(r"\d+", row.get("ID", "").strip() or "x"):
            units = {k: v.strip() for k, v in row.items()}  # the units row
            continue
        rows.append(row)
    for column in DURATION:
        scale = TIME_UNITS.get(units.get(column, "nsecond"), 1.0)
        if scale != 1.0:
            for row in rows:
                value = number(row.get(column))
                if value is not None:
                    row[column] = repr(value * scale)
    return header, rows


def kernel_name(row):
    for column in NAME_COLUMNS:
        if row.get(column):
            return row[column]
    raise SystemExit(f"no kernel name column among {NAME_COLUMNS} in the ncu export")


def short(name, width=96):
    name = re.sub(r"^void ", "", name)
    if name.endswith(")") and "(" in name:
        depth = 0
        for i in range(len(name) - 1, -1, -1):
            depth += name[i] == ")"
            depth -= name[i] == "("
            if depth == 0:
                name = name[:i]
                break
    return name if len(name) <= width else name[: width - 1] + "…"


def first(row, names):
    for n in names:
        if n in row:
            v = number(row[n])
            if v is not None:
                return v
    return None


def matching(row, pattern, combine=max):
    values = [number(v) for k, v in row.items() if pattern.match(k)]
    values = [v for v in values if v is not None]
    return combine(values) if values else None


def limiter(sm, mem, tensor, fp32):
    if sm is None and mem is None:
        return "n/a"
    sm, mem = sm or 0.0, mem or 0.0
    if max(sm, mem) < LATENCY_THRESHOLD:
        return "latency"
    if mem >= sm:
        return "memory"
    if (tensor or 0.0) >= (fp32 or 0.0):
        return "compute-tensor"
    return "compute-fp32"


def kernels(all_rows, detail_rows):
    table = OrderedDict()
    for row in all_rows:
        name = kernel_name(row)
        entry = table.setdefault(name, {"launches": 0, "ns": 0.0, "registers": None, "samples": []})
        entry["launches"] += 1
        entry["ns"] += first(row, DURATION) or 0.0
        regs = first(row, REGISTERS)
        if regs is not None:
            entry["registers"] = max(entry["registers"] or 0, regs)
    for row in detail_rows:
        name = kernel_name(row)
        entry = table.setdefault(name, {"launches": 0, "ns": 0.0, "registers": None, "samples": []})
        mem = [v for v in (first(row, MEMORY), first(row, DRAM)) if v is not None]
        entry["samples"].append({
            "ns": first(row, DURATION) or 0.0,
            "sm": first(row, SM),
            "memory": first(row, MEMORY),
            "dram": first(row, DRAM),
            "mem": max(mem) if mem else None,
            "tensor": matching(row, TENSOR),
            "fp32": matching(row, FP32),
            "achieved": first(row, ACHIEVED),
            "theoretical": first(row, THEORETICAL),
            "registers": first(row, REGISTERS),
            "local": matching(row, LOCAL, combine=sum),
        })
    out = []
    total_ns = sum(e["ns"] for e in table.values()) or 1.0
    for name, e in table.items():
        s = e["samples"]
        weight = sum(x["ns"] for x in s) or None

        def mean(key):
            pairs = [(x[key], x["ns"]) for x in s if x[key] is not None]
            if not pairs:
                return None
            w = sum(ns for _, ns in pairs)
            return sum(v * ns for v, ns in pairs) / w if w > 0 else sum(v for v, _ in pairs) / len(pairs)

        sm, mem, tensor, fp32 = mean("sm"), mean("mem"), mean("tensor"), mean("fp32")
        registers = e["registers"] if e["registers"] is not None else max((x["registers"] for x in s if x["registers"] is not None), default=None)
        locals_ = [x["local"] for x in s if x["local"] is not None]
        out.append({
            "kernel": name,
            "short": short(name),
            "launches": e["launches"],
            "total_ms": e["ns"] / 1e6,
            "share": e["ns"] / total_ns,
            "mean_us": e["ns"] / e["launches"] / 1e3 if e["launches"] else None,
            "sm_pct": sm,
            "memory_pct": mean("memory"),
            "dram_pct": mean("dram"),
            "tensor_pct": tensor,
            "fp32_pct": fp32,
            "achieved_occupancy_pct": mean("achieved"),
            "theoretical_occupancy_pct": mean("theoretical"),
            "registers": registers,
            "local_memory": max(locals_) if locals_ else None,
            "limiter": limiter(sm, mem, tensor, fp32) if s else "not sampled",
            "sampled_launches": len(s),
            "sampled_ms": (weight or 0.0) / 1e6,
        })
    out.sort(key=lambda k: -k["total_ms"])
    return out, total_ns / 1e6


def fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 100):
        return f"{int(v)}"
    return f"{v:.{digits}f}"


def kernel_markdown(rows, total_ms, ranges, top):
    lines = []
    launches = sum(r["launches"] for r in rows)
    lines.append(f"## Kernels of the profiled range: {launches} launches, {total_ms:.2f} ms of kernel time")
    lines.append("")
    lines.append("Kernel time is the sum of ncu's serialized durations (caches flushed before each kernel, clocks as they are); "
                 "the gap to the wall time below is host launch overhead and synchronizations.")
    for r in ranges:
        res, inp = r.get("results", {}), r.get("inputs", {})
        where = "under ncu (API interception, kernels unprofiled)" if inp.get("underProfiler") else "without a profiler"
        lines.append(f"- `{inp.get('mode')}` run, {inp.get('config')}, batch {inp.get('batch')}: wall time of the two calls before the range, {where}: "
                     f"{fmt(res.get('wallMs'), 2)} ms ({fmt(res.get('wallMsPerExpert'), 2)} ms per expert)")
    lines.append("")
    lines.append(f"Limiter rule: mem = max(DRAM %, memory %); latency if max(SM %, mem) < {LATENCY_THRESHOLD:.0f}; else memory if mem ≥ SM %; "
                 "else compute-tensor if tensor % ≥ FP32 %; else compute-fp32. Percentages: duration-weighted over the sampled launches.")
    lines.append("")
    by = defaultdict(float)
    for r in rows:
        by[r["limiter"]] += r["total_ms"]
    lines.append("Time by limiter: " + ", ".join(f"{k} {v:.2f} ms ({100 * v / (total_ms or 1):.0f}%)" for k, v in sorted(by.items(), key=lambda kv: -kv[1])))
    lines.append("")
    lines.append("| # | kernel | launches | total ms | share | mean µs | SM % | mem % | DRAM % | tensor % | FP32 % | occupancy % (achieved / theoretical) | regs | local | limiter | sampled |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for i, r in enumerate(rows[:top], 1):
        lines.append("| {} | `{}` | {} | {:.3f} | {:.1f}% | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} |".format(
            i, r["short"].replace("|", "\\|"), r["launches"], r["total_ms"], 100 * r["share"], fmt(r["mean_us"]),
            fmt(r["sm_pct"]), fmt(r["memory_pct"]), fmt(r["dram_pct"]), fmt(r["tensor_pct"]), fmt(r["fp32_pct"]),
            fmt(r["achieved_occupancy_pct"]), fmt(r["theoretical_occupancy_pct"]), fmt(r["registers"], 0), fmt(r["local_memory"], 0),
            r["limiter"], r["sampled_launches"]))
    if len(rows) > top:
        rest = rows[top:]
        lines.append(f"| | {len(rest)} more kernels | {sum(r['launches'] for r in rest)} | {sum(r['total_ms'] for r in rest):.3f} | "
                     f"{100 * sum(r['share'] for r in rest):.1f}% | | | | | | | | | | | |")
    lines.append("")
    return lines


def stage_markdown(records):
    lines = []
    for rec in records:
        inp, res = rec.get("inputs", {}), rec.get("results", {})
        if rec.get("benchmark") == "gptq-batch-stages":
            lines.append(f"### {inp.get('config')}, {inp.get('matrices')} ({inp.get('rows')}×{inp.get('columns')}), batch {inp.get('batch')}, "
                         f"chunks of {inp.get('chunkItems')}")
            peak = res.get("peakDeviceUsedBytes")
            lines.append(f"Unsynchronized {fmt(res.get('unsynchronizedMsPerMatrix'), 2)} ms per matrix; with a sync at every stage "
                         f"{fmt(res.get('stagedMsPerMatrix'), 2)} ms (+{100 * (res.get('synchronizationOverhead') or 0):.0f}%)"
                         + (f"; device memory in use (driver, cache included) up to {peak / 2**30:.1f} GiB, estimate per chunk "
                            f"{(inp.get('estimatedBytesPerChunk') or 0) / 2**30:.1f} GiB" if peak else ""))
            lines.append("")
            lines.append("| stage | ms per matrix | share | entries |")
            lines.append("|---|---:|---:|---:|")
            for s in sorted(res.get("stages", []), key=lambda s: -s["msPerMatrix"]):
                lines.append(f"| {s['stage']} | {s['msPerMatrix']:.3f} | {100 * s['share']:.1f}% | {s['entries']} |")
            lines.append("")
        elif rec.get("benchmark") == "gptq-batch-expert-stages":
            lines.append(f"### Per expert (gate+up tied + down), {inp.get('config')}, batch {inp.get('batch')}: "
                         f"{fmt(res.get('stagedMsPerExpert'), 2)} ms with stage syncs")
            lines.append("")
            lines.append("| stage | ms per expert | gate+up | down | share |")
            lines.append("|---|---:|---:|---:|---:|")
            for s in sorted(res.get("stages", []), key=lambda s: -s["msPerExpert"]):
                lines.append(f"| {s['stage']} | {s['msPerExpert']:.3f} | {s['gateUpMsPerExpert']:.3f} | {s['downMsPerExpert']:.3f} | {100 * s['share']:.1f}% |")
            lines.append("")
        elif rec.get("benchmark") == "gptq-batch-expert":
            lines.append(f"- {inp.get('config')}, batch {inp.get('batch')}: {fmt(res.get('batchMsPerExpert'), 2)} ms per expert batched "
                         f"(single path {fmt(res.get('singleMsPerExpert'), 2)} ms)")
            lines.append("")
    return lines


def read_jsonl(paths):
    records = []
    for path in paths or []:
        try:
            with open(path, encoding="utf-8") as f:
                for number_, line in enumerate(f, 1):
                    if line.strip().startswith("{"):
                        try:
                            records.append(json.loads(line))
                        except json.JSONDecodeError as error:
                            print(f"warning: {path}:{number_} is not JSON ({error}); skipped", file=sys.stderr)
        except FileNotFoundError:
            print(f"warning: {path} not found", file=sys.stderr)
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", nargs="*", help="JSON Lines of `bench gptq --batch N --stages` and `--profile` runs")
    parser.add_argument("--ncu-all", help="raw CSV export of the profiled range, every launch")
    parser.add_argument("--ncu-detail", help="raw CSV export of the sampled launches with detail metrics")
    parser.add_argument("--kernels-csv", help="write the per-kernel table here")
    parser.add_argument("--top", type=int, default=40, help="kernels listed in the markdown table")
    args = parser.parse_args()

    records = read_jsonl(args.stages)
    lines = ["# Batched GPTQ profile", ""]
    stage_lines = stage_markdown(records)
    if stage_lines:
        lines += ["## Stages (moequant bench gptq --stages)", ""] + stage_lines
    if args.ncu_all:
        _, all_rows = read_ncu_csv(args.ncu_all)
        detail_rows = read_ncu_csv(args.ncu_detail)[1] if args.ncu_detail else []
        if not all_rows:
            raise SystemExit(f"{args.ncu_all} holds no profiled launches")
        rows, total_ms = kernels(all_rows, detail_rows)
        ranges = [r for r in records if r.get("benchmark") == "gptq-batch-profile-range"]
        lines += kernel_markdown(rows, total_ms, ranges, args.top)
        if args.kernels_csv:
            with open(args.kernels_csv, "w", newline="", encoding="utf-8") as f:
                fields = [k for k in rows[0].keys() if k != "short"]
                writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
