#!/usr/bin/env bash
# On the GPU machine, from the repository root, with $OUT set: where batched GPTQ's time goes (issue #7).
#   1. stage breakdown of Gptq.QuantizeBatch at batch $STAGE_BATCH (32), default+absmax, then activation+mse
#      (bench gptq --batch 32 --stages --config ...; each also times the batched and single paths as bench gptq does)
#   2. the profiled expert's wall time without a profiler (bench gptq --batch $NCU_BATCH --profile all)
#   3. Nsight Compute, pass A: every kernel launch of ONE batched expert (the gate+up tied call and the down call,
#      batch $NCU_BATCH (4), $NCU_CONFIG) inside a cuProfilerStart/Stop range: durations and launch figures only
#   4. Nsight Compute, pass B: the same expert, only the launches of sampled stage entries (first two and every 8th of
#      each stage, GptqBatchProfile.SampleEntry) with SpeedOfLight, LaunchStats, Occupancy and pipe metrics
#   5. summary per stage and per kernel with a limiter label (tools/bench/gptq_profile_summary.py)
#   6. stage breakdown at batch $SECOND_STAGE_BATCH (8), if the run is still short
# A failed step is reported at once and at the end (exit 1), and the steps after it still run, so one out-of-memory
# configuration does not cost the profile. Every step runs under a timeout that keeps the whole under $TOTAL_S.
# Needs .device-pub from bench/device/publish.sh (carry it). Writes at most 8 files into $OUT: profile.log,
# stages.jsonl, ncu-all.csv, ncu-detail.csv, summary.md, kernels.csv and ncu-detail.ncu-rep (if under 15 MiB).
# Usage: bench/device/profile-gptq.sh      (env: NCU, NCU_BATCH=4, NCU_CONFIG=default+absmax, STAGE_BATCH=32,
#        STAGE_CONFIGS="default+absmax activation+mse", SECOND_STAGE_BATCH=8 (empty: skip), DEADLINE_S=420 (no optional step starts later), TOTAL_S=570,
#        STEPS="stages range a b second" (the steps to run), NCU_B_BATCH=$NCU_BATCH, NCU_B_KERNELS (ncu -k filter of
#        pass B, default: the kernel families that take most of pass A's time), NCU_B_LAUNCHES=2 (per kernel and launch
#        configuration: ncu --filter-mode per-launch-config))
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:?set OUT to the folder for results}
mkdir -p "$out"
exec > >(tee -a "$out/profile.log") 2>&1

t0=$(date +%s)
log() { echo "[$(date -u +%H:%M:%S) +$(($(date +%s) - t0))s] $*"; }
fail() { log "FAILED: $*"; exit 1; }
failures=()
step_failed() { log "FAILED: $*"; failures+=("$*"); }
trap 'log "FAILED at line $LINENO (exit $?)"' ERR

ncu_batch=${NCU_BATCH:-4}
ncu_config=${NCU_CONFIG:-default+absmax}
stage_batch=${STAGE_BATCH:-32}
second_batch=${SECOND_STAGE_BATCH-8}
deadline=${DEADLINE_S:-420}
total=${TOTAL_S:-570}
steps=" ${STEPS:-stages range a b second} "
want() { [[ "$steps" == *" $1 "* ]]; }
b_batch=${NCU_B_BATCH:-$ncu_batch}
b_kernels=${NCU_B_KERNELS:-regex:gptq_block|reverse_cholesky_leaf|sm90_xmma|nvjet|mse_scale|split_tf32|trsm|potrf|sgemm|s1688gemm|normalize_columns|transpose_rows|trace_operand|group_|reduce_kernel}
b_launches=${NCU_B_LAUNCHES:-2}
stages="$out/stages.jsonl"
work=/tmp/profile-gptq
rm -rf "$work" && mkdir -p "$work"
# Seconds a step may take: its own limit, or what is left of the whole run if that is less.
# At least 1 s: `timeout 0` would mean no limit at all.
limit() { local left=$((total - ($(date +%s) - t0))); left=$((left < 1 ? 1 : left)); echo $(($1 < left ? $1 : left)); }

# 0) what runs where
[ -f .device-pub/moequant-linux-x64.tar.xz ] || fail "no .device-pub/moequant-linux-x64.tar.xz: run bench/device/publish.sh where dotnet is and carry .device-pub"
ncu=${NCU:-$(command -v ncu || ls -d /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | sort -V | tail -1 || true)}
[ -n "$ncu" ] && [ -x "$ncu" ] || fail "ncu not found (set NCU=/path/to/ncu)"
log "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv,noheader | head -1)"
log "ncu: $ncu ($("$ncu" --version | tail -1))"

summary() {
  local args=(--stages "$stages")
  [ -s "$out/ncu-all.csv" ] && args+=(--ncu-all "$out/ncu-all.csv" --kernels-csv "$out/kernels.csv")
  [ -s "$out/ncu-detail.csv" ] && args+=(--ncu-detail "$out/ncu-detail.csv")
  python3 tools/bench/gptq_profile_summary.py "${args[@]}" > "$out/summary.md"
}

export_csv() { # report, csv: raw page, base units (ns); older ncu without --print-units falls back to its own units
  "$ncu" --import "$1" --csv --page raw --print-units base > "$2" 2> "$work/export.err" \
    || { cat "$work/export.err"; log "retrying the export without --print-units"; "$ncu" --import "$1" --csv --page raw > "$2"; }
}

stage_run() { # batch, config, own limit in seconds
  local name="stages-$1-$2" seconds
  seconds=$(limit "$3")
  log "stage breakdown: bench gptq --batch $1 --stages --config $2 (limit ${seconds}s)"
  if timeout "$seconds" bench/device/run.sh bench gptq --batch "$1" --stages --config "$2" --out "$stages" > "$work/$name.log" 2>&1; then
    log "  done: $(grep -c '"gptq-batch-stages"' "$stages" || true) stage records so far"
  else
    tail -25 "$work/$name.log"
    step_failed "bench gptq --batch $1 --stages --config $2"
  fi
  summary || step_failed "summary"
}

# 1) stage breakdown at batch $stage_batch, both configurations
if want stages; then
  for config in ${STAGE_CONFIGS:-default+absmax activation+mse}; do
    stage_run "$stage_batch" "$config" 200
  done
fi

# 2) the profiled expert's wall time without a profiler
if want range; then
  log "wall time of the profiled expert without a profiler"
  timeout "$(limit 120)" bench/device/run.sh bench gptq --batch "$ncu_batch" --profile all --config "$ncu_config" --out "$stages" > "$work/range.log" 2>&1 \
    || { tail -25 "$work/range.log"; step_failed "bench gptq --batch $ncu_batch --profile all (no profiler)"; }
fi

# 3) ncu pass A: every launch of one batched expert, durations (single-pass metrics: no kernel replay)
if want a; then
  log "ncu pass A: all launches of one expert, batch $ncu_batch, $ncu_config"
  if timeout "$(limit 240)" "$ncu" --profile-from-start off --clock-control none --target-processes all \
    --metrics gpu__time_duration.sum,launch__registers_per_thread,launch__grid_size,launch__block_size \
    --log-file "$work/ncu-all.log" -f -o "$work/ncu-all" \
    bench/device/run.sh bench gptq --batch "$ncu_batch" --profile all --config "$ncu_config" --out "$stages"; then
    grep -E '==(ERROR|WARNING)==' "$work/ncu-all.log" | sort | uniq -c | head -10 || true
    export_csv "$work/ncu-all.ncu-rep" "$out/ncu-all.csv" || step_failed "export of pass A"
    log "pass A: $(($(wc -l < "$out/ncu-all.csv") - 2)) launches profiled"
    summary || step_failed "summary"
  else
    tail -30 "$work/ncu-all.log"
    step_failed "ncu pass A"
  fi
fi

# 4) ncu pass B: sampled stage entries, throughput / pipes / occupancy. Pipe metrics are taken only where this ncu
#    knows them for this GPU; if ncu still rejects them, the pass is repeated with the sections alone.
if want b; then
  "$ncu" --devices 0 --query-metrics > "$work/metrics.txt" 2>&1 || log "ncu --query-metrics failed; pass B takes the sections only"
  extra=()
  for m in sm__pipe_tensor_cycles_active:.avg.pct_of_peak_sustained_active \
           sm__pipe_tensor_op_hmma_cycles_active:.avg.pct_of_peak_sustained_active \
           sm__pipe_tensor_op_gmma_cycles_active:.avg.pct_of_peak_sustained_active \
           sm__pipe_fma_cycles_active:.avg.pct_of_peak_sustained_active \
           sm__pipe_fp64_cycles_active:.avg.pct_of_peak_sustained_active \
           dram__throughput:.avg.pct_of_peak_sustained_elapsed \
           l1tex__t_sectors_pipe_lsu_mem_local_op_ld:.sum \
           l1tex__t_sectors_pipe_lsu_mem_local_op_st:.sum; do
    base=${m%%:*}
    if grep -qw -- "$base" "$work/metrics.txt"; then extra+=("$base${m#*:}"); fi
  done
  metrics=$(IFS=,; echo "${extra[*]:-}")
  log "ncu pass B: sampled stage entries of batch $b_batch, kernels $b_kernels, at most $b_launches launches per launch configuration, sections SpeedOfLight LaunchStats Occupancy; metrics: ${metrics:-none}"
  pass_b() {
    timeout "$(limit 300)" "$ncu" --profile-from-start off --clock-control none --target-processes all \
      --section SpeedOfLight --section LaunchStats --section Occupancy -k "$b_kernels" --filter-mode per-launch-config --launch-count "$b_launches" "$@" \
      --log-file "$work/ncu-detail.log" -f -o "$work/ncu-detail" \
      bench/device/run.sh bench gptq --batch "$b_batch" --profile sampled --config "$ncu_config" --out "$stages"
  }
  pass_b_ok=1
  if [ -n "$metrics" ]; then
    pass_b --metrics "$metrics" || { tail -20 "$work/ncu-detail.log"; log "pass B failed with the pipe metrics; again with the sections alone"; pass_b || pass_b_ok=0; }
  else
    pass_b || pass_b_ok=0
  fi
  if [ "$pass_b_ok" = 1 ]; then
    grep -E '==(ERROR|WARNING)==' "$work/ncu-detail.log" | sort | uniq -c | head -10 || true
    export_csv "$work/ncu-detail.ncu-rep" "$out/ncu-detail.csv" || step_failed "export of pass B"
    log "pass B: $(($(wc -l < "$out/ncu-detail.csv") - 2)) launches profiled"
    if [ "$(stat -c %s "$work/ncu-detail.ncu-rep")" -lt $((15 * 1024 * 1024)) ]; then cp "$work/ncu-detail.ncu-rep" "$out/"; fi
  else
    tail -30 "$work/ncu-detail.log"
    step_failed "ncu pass B"
  fi
fi

# 5) summary
summary || step_failed "summary"
log "summary written to $out/summary.md"

# 6) a second stage breakdown at a smaller batch, if time allows
if want second && [ -n "$second_batch" ] && [ $(($(date +%s) - t0)) -lt "$deadline" ]; then
  stage_run "$second_batch" default+absmax 90
  if [ $(($(date +%s) - t0)) -lt "$deadline" ]; then stage_run "$second_batch" activation+mse 90; fi
else
  log "skipping the second stage breakdown (batch '${second_batch}', deadline ${deadline}s)"
fi

cat "$out/summary.md"
log "files in $out: $(ls "$out" | tr '\n' ' ')"
if [ ${#failures[@]} -gt 0 ]; then
  log "FAILED steps (${#failures[@]}): $(printf '%s; ' "${failures[@]}")"
  exit 1
fi
log "done"
