#!/usr/bin/env bash
# On the GPU machine: do reruns write the same bytes? Quantizes the built-in model DETERMINISM_RUNS times (default 3)
# on each device list of DETERMINISM_DEVICES (default "0 0:2": one GPU, then the same GPU as two logical devices), with
# small calibration waves, and compares every unit state file and checkpoint shard against the first run of the same
# devices. Writes $OUT/determinism.jsonl (one line per run: identical or the files that differ).
# Usage: bench/device/determinism.sh      (env: DETERMINISM_RUNS=3, DETERMINISM_DEVICES="0 0:2", DETERMINISM_WAVE_GB=0.0005)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:?set OUT}
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
runs=${DETERMINISM_RUNS:-3}
wave=${DETERMINISM_WAVE_GB:-0.0005}

source bench/device/state-hashes.sh

for devices in ${DETERMINISM_DEVICES:-0 0:2}; do
  for run in $(seq 1 "$runs"); do
    save=/tmp/determinism-${devices/:/x}-$run
    rm -rf "$save"
    start=$(date +%s%N)
    status=0
    bench/device/run.sh quantize --devices "$devices" --hessian-memory-gb "$wave" --skip-eval --save-dir "$save" > "$save.log" 2>&1 || status=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    state_hashes "$save" > "$save.sha256"
    first=/tmp/determinism-${devices/:/x}-1.sha256
    differing=$(diff "$first" "$save.sha256" | grep '^>' | awk '{print $3}' | tr '\n' ' ' || true)
    files=$(wc -l < "$save.sha256")
    printf '{"bench":"determinism","machine":"%s","model":"built-in tiny-deepseek-v3","devices":"%s","wave_gib":%s,"run":%s,"exit":%s,"ms":%s,"files":%s,"identical_to_first":%s,"differing":"%s"}\n' \
      "$gpu" "$devices" "$wave" "$run" "$status" "$ms" "$files" "$([ -z "$differing" ] && echo true || echo false)" "${differing% }" | tee -a "$out/determinism.jsonl"
  done
done
