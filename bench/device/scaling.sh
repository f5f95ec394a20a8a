#!/usr/bin/env bash
# On a GPU machine with one or more GPUs: issue #10's scaling run. Generates the synthetic DeepSeek-V3-sized model
# (3 dense + 2 MoE layers, 256 experts, FP8 128x128 blocks, random weights) with its 64 x 4096 calibration ids, then
# quantizes it (4-bit, group 128, symmetric) on 1 GPU and on every GPU, each run with --profile-phases, and copies each
# run's report/timings.json, its log tail and a hash of its output into $OUT (scaling.jsonl).
# Usage: bench/device/scaling.sh [device lists to run, default "0 0-(N-1)"]; SCALING_SAMPLES=64 SCALING_LENGTH=4096.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:?set OUT}
gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
samples=${SCALING_SAMPLES:-64}
length=${SCALING_LENGTH:-4096}
model=/tmp/synth-dsv3
lists=${*:-"0 0-$((gpus - 1))"}
stamp() { echo "[$(date +%T)] $*"; }

stamp "$gpus x $gpu"; nvidia-smi topo -m | head -5 || true; df -h /tmp | tail -1; free -g | head -2
if [ ! -f "$model/config.json" ]; then
  stamp "synth-model"
  start=$(date +%s)
  bench/device/run.sh synth-model --output "$model" --calibration-samples "$samples" --sequence-length "$length" 2>&1 | tail -3
  stamp "synth-model took $(( $(date +%s) - start )) s"; du -sh "$model"
fi

for devices in $lists; do
  save=/tmp/scaling-$devices
  rm -rf "$save"
  stamp "quantize --devices $devices"
  start=$(date +%s%N)
  status=0
  timeout "${SCALING_LIMIT:-420}" bench/device/run.sh quantize --model-name-or-path "$model" \
    --dataset-name-or-path "$model/calibration.jsonl" --num-calibration-samples "$samples" --max-sequence-length "$length" \
    --bits 4 --group-size 128 --sym --devices "$devices" --save-dir "$save" --profile-phases > "/tmp/scaling-$devices.log" 2>&1 || status=$?
  end=$(date +%s%N)
  grep -v "Hosting\|Content root" "/tmp/scaling-$devices.log" | tail -25 > "$out/scaling-$devices.log" || true
  cp "$save/report/timings.json" "$out/timings-$devices.json" 2>/dev/null || true
  cp "$save"/logs/*.jsonl "$out/log-$devices.jsonl" 2>/dev/null || true
  hash=$(cd "$save" 2>/dev/null && find layers -name '*.safetensors' | sort | xargs -r sha256sum | sha256sum | cut -c1-16 || echo none)
  printf '{"bench":"scaling","machine":"%s","gpus_on_machine":%s,"model":"synthetic DeepSeek-V3 dims, 3 dense + 2 MoE layers","samples":%s,"sequence_length":%s,"devices":"%s","exit":%s,"seconds":%s,"state_hash":"%s"}\n' \
    "$gpu" "$gpus" "$samples" "$length" "$devices" "$status" "$(( (end - start) / 1000000 ))e-3" "$hash" | tee -a "$out/scaling.jsonl"
  tail -8 "$out/scaling-$devices.log"
done
