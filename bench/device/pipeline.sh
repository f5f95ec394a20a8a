#!/usr/bin/env bash
# On the GPU machine: `moequant quantize` of the built-in model on one GPU, then on the same GPU split into two logical
# devices (a multi-device plan), timing both and checking that both wrote the same bytes; then the eval before and
# after. Writes $OUT/pipeline.jsonl and copies each run's summary.md. Usage: bench/device/pipeline.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:?set OUT}
# shellcheck source=bench/device/state-hashes.sh
. bench/device/state-hashes.sh
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)

run() { # name, devices, time limit in seconds
  local dir=/tmp/pipeline-$1
  rm -rf "$dir"
  local start end cached
  cached=$( (find ~/.local/share/moequant/cubin -name "*.cubin" 2>/dev/null || true) | wc -l) # kernels compiled by earlier runs here
  start=$(date +%s%N)
  if ! timeout "$3" bench/device/run.sh quantize --devices "$2" --save-dir "$dir" > "/tmp/pipeline-$1.log" 2>&1; then
    echo "quantize --devices $2 failed or ran past $3 s; its last lines:"
    grep -v "Hosting\|Content root" "/tmp/pipeline-$1.log" | tail -15
    grep "Compiled CUDA" "/tmp/pipeline-$1.log" || true
    cp "/tmp/pipeline-$1.log" "$out/pipeline-$1.log"
    return 0
  fi
  end=$(date +%s%N)
  tail -3 "/tmp/pipeline-$1.log"
  grep "Compiled CUDA" "/tmp/pipeline-$1.log" || true
  cp "/tmp/pipeline-$1.log" "$out/pipeline-$1.log"
  local hash
  hash=$(state_hash "$dir") # unit state and checkpoint shards: the report holds timings
  cp "$dir/report/summary.md" "$out/summary-$1.md" 2>/dev/null || true
  printf '{"bench":"pipeline","machine":"%s","model":"built-in tiny-deepseek-v3","devices":"%s","seconds":%s,"output_hash":"%s","cached_kernels_at_start":%s}\n' \
    "$gpu" "$2" "$(( (end - start) / 1000000 ))e-3" "$hash" "$cached" | tee -a "$out/pipeline.jsonl"
}

run one-gpu 0 400
run split-gpu 0:2 200
[ "${PIPELINE_CPU:-1}" = 0 ] || run cpu cpu 90
