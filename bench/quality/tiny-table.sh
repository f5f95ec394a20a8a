#!/usr/bin/env bash
# The quality table of README: the built-in model quantized with each GPTQ configuration on its built-in calibration
# text (CPU), each packed checkpoint's held-out perplexity measured by `moequant eval`, and its size on disk.
# Writes bench/results/quality-tiny.jsonl. Usage: bench/quality/tiny-table.sh [moequant binary]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-Coordinator/bin/Debug/net10.0/moequant}
out=bench/results/quality-tiny.jsonl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: > "$out"

measure() { # name, model folder, flags...
  local name=$1 folder=$2
  shift 2
  local json
  json=$("$bin" eval --model-name-or-path "$folder" --input-ids assets/tiny-deepseek-v3/heldout_ids.jsonl --json | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)))')
  local bytes
  bytes=$(find "$folder" -maxdepth 1 -name '*.safetensors' -printf '%s\n' | awk '{s+=$1} END {print s}')
  printf '{"model":"built-in tiny-deepseek-v3","config":"%s","flags":"%s","bytes":%s,"eval":%s}\n' "$name" "$*" "$bytes" "$json" | tee -a "$out"
}

measure bf16 assets/tiny-deepseek-v3/model-bf16
measure fp8 assets/tiny-deepseek-v3/model-fp8
for bits in 4 3; do
  for order in default activation; do
    for scale in absmax mse; do
      name="w${bits}g64-sym-${order}-${scale}"
      flags=(--bits "$bits" --group-size 64 --sym --quantization-order "$order" --quantization-scale "$scale")
      "$bin" quantize --save-dir "$work/$name" --skip-eval "${flags[@]}" > "$work/$name.log" 2>&1 || { tail "$work/$name.log"; exit 1; }
      measure "$name" "$work/$name" "${flags[@]}"
    done
  done
done
for bits in 4 3; do
  name="w${bits}g64-sym-rtn"
  flags=(--bits "$bits" --group-size 64 --sym --method rtn)
  "$bin" quantize --save-dir "$work/$name" --skip-eval "${flags[@]}" > "$work/$name.log" 2>&1 || { tail "$work/$name.log"; exit 1; }
  measure "$name" "$work/$name" "${flags[@]}"
done
