#!/usr/bin/env bash
# On the GPU machine, in one device call (about 3 minutes on one H100): where the time of one DeepSeek-V3 MoE decoder
# layer forward goes (8 x 4096 tokens, random bf16 weights) and what each faster implementation gains.
#  (a) transformers 5.x's own DeepseekV3DecoderLayer (tools/bench_hf_layer.py), grouped_mm and eager experts;
#  (b) the headline: `moequant bench forward` with the reference and the fused variant beside (a), in one process
#      ($OUT/forward.jsonl);
#  (c) every variant of ForwardOptions.Variants in its own process (a kernel that faults cannot spoil the others), each
#      with the reference of its process, its max |output - reference| and re-routed tokens, and both phase by phase
#      with FLOPs, bytes, rates and a floor ($OUT/forward-phases.jsonl; logs in $OUT/forward-<variant>.log);
#  (d) a summary table of (b) and (c).
# Needs .device-pub from bench/device/publish.sh (carry it), python3 with torch and transformers (run.sh takes libtorch
# from it); no .NET SDK, no network. A failing step does not stop the others; the script exits non-zero and names them.
# Usage, from the repository root: OUT=/some/dir bench/device/forward.sh   (FORWARD_VARIANTS="a b" to run fewer in (c))
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:?set OUT to the folder that comes back}
hf=$out/forward-transformers.jsonl
variants=${FORWARD_VARIANTS:-fused-norm fused-combine fused-activation tensor-core-router attention-layout attention-layout-auto attention-layout-flash attention-layout-efficient attention-layout-cudnn fused fused-padded-auto fused-flash fused-cudnn}
failed=()
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

source bench/device/step.sh

machine() {
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "transformers", transformers.__version__)'
}

transformers() {
  : > "$hf"
  timeout 60 python3 tools/bench_hf_layer.py --experts grouped_mm >> "$hf"
  timeout 60 python3 tools/bench_hf_layer.py --experts eager >> "$hf"
  cat "$hf"
}

headline() {
  timeout 75 bench/device/run.sh bench forward --variants fused --transformers "$hf" --out "$out/forward.jsonl" \
    | grep -v '^{'
}

# Output stays in the log (the summary reads the JSON Lines); only a failure's last lines are shown.
variant() {
  local log=$out/forward-$1.log
  if ! timeout 30 bench/device/run.sh bench forward --variants "$1" --phases --out "$out/forward-phases.jsonl" > "$log" 2>&1; then
    tail -5 "$log" | cut -c1-300
    return 1
  fi
  grep -v '^{' "$log" | tail -1
}

summary() {
  python3 - "$out/forward.jsonl" "$out/forward-phases.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for path in sys.argv[1:] for l in open(path) if l.startswith("{")]
def err(v):
    return (v["error"] or "")[:160]
for line in lines:
    if line["benchmark"] != "forward-moe-layer" or line["results"]["transformers"] is None:
        continue
    print("headline (one process):")
    for v in line["results"]["variants"]:
        print(f'  {v["name"]:<28} {v["ms"] or float("nan"):8.2f} ms  {v["tokensPerSecond"] or 0:10.0f} tok/s  '
              f'vs transformers {", ".join(f"{s:.2f}x" for s in v["speedupOverTransformers"] or [])}  max|d| {v["maxAbsDiffToReference"]}  '
              f're-routed {v["routingMismatchedTokens"]}  {err(v)}')
    for t in line["results"]["transformers"]:
        print(f'  transformers {t["experts"]:<15} {t["ms"]:8.2f} ms')
print("variants (each in its own process, against that process's reference):")
for line in lines:
    if line["benchmark"] != "forward-moe-layer" or line["results"]["transformers"] is not None:
        continue
    ref, *rest = line["results"]["variants"]
    for v in rest:
        gain = f'{ref["ms"] - v["ms"]:+7.2f} ms ({ref["ms"] / v["ms"]:.3f}x)' if v["ms"] else "failed"
        print(f'  {v["name"]:<28} {v["ms"] or float("nan"):8.2f} ms vs reference {ref["ms"]:8.2f}: {gain}  '
              f'max|d| {v["maxAbsDiffToReference"]}  re-routed {v["routingMismatchedTokens"]}  {err(v)}')
phases = [l["results"] for l in lines if l["benchmark"] == "forward-moe-layer-phases"]
def show(r):
    print(f'phases of {r["variant"]}: unclocked {r["unclockedMs"]:.2f} ms, clocked {r["clockedMs"]:.2f} ms, floor {r["floorMs"]:.2f} ms ({r["floorRates"]})')
    for p in r["phases"]:
        rate = f'{p["Tflops"]:6.0f} TFLOP/s' if p["Tflops"] else f'{p["GigabytesPerSecond"] or 0:6.0f} GB/s   '
        print(f'  {p["Phase"]:<20} {p["Milliseconds"]:8.3f} ms  {rate}  floor {p["FloorMilliseconds"]:7.3f}')
for name in ("reference", "fused"):
    found = [r for r in phases if r["variant"] == name]
    if found:
        show(found[0])
# Each process records its reference's phases, then its variant's: compare the two.
print("phases that moved (variant vs the reference of its process, |d| >= 0.05 ms):")
reference = None
for r in phases:
    if r["variant"] == "reference":
        reference = {p["Phase"]: p["Milliseconds"] for p in r["phases"]}
        continue
    if reference is None:
        continue
    moved = [(p["Phase"], reference.get(p["Phase"], 0.0), p["Milliseconds"]) for p in r["phases"]]
    moved += [(name, ms, 0.0) for name, ms in reference.items() if name not in {p["Phase"] for p in r["phases"]}]
    text = ", ".join(f"{n} {a:.2f}->{b:.2f}" for n, a, b in moved if abs(a - b) >= 0.05)
    print(f'  {r["variant"]:<28} clocked {sum(reference.values()):.2f}->{r["clockedMs"]:.2f} ms: {text}')
PY
}

step machine machine
step transformers transformers
step headline headline
for v in $variants; do
  step "variant $v" variant "$v"
done
step summary summary
ls -l "$out"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all steps passed"
