#!/usr/bin/env bash
# On the GPU machine: crash-safe resume on CUDA. Quantizes the built-in model on one GPU split into two logical devices
# (a multi-device plan) with small calibration waves, uninterrupted; then again, killed with SIGKILL after each of
# RESUME_KILL_AFTER seconds (default "6 12 18") and resumed with --resume until it finishes. Every run's unit state and
# exported checkpoint must hash the same as the uninterrupted run's. Writes $OUT/resume.jsonl.
# Usage: bench/device/resume.sh      (env: RESUME_DEVICES=0:2, RESUME_WAVE_GB=0.0005, RESUME_KILL_AFTER="6 12 18")
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:?set OUT}
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
devices=${RESUME_DEVICES:-0:2}
wave=${RESUME_WAVE_GB:-0.0005}
stamp() { echo "[$(date +%T)] $*"; }

quantize() { # save dir, extra flags...
  local save=$1
  shift
  bench/device/run.sh quantize --devices "$devices" --hessian-memory-gb "$wave" --skip-eval --save-dir "$save" "$@"
}

source bench/device/state-hashes.sh

reference=/tmp/resume-reference
rm -rf "$reference"
stamp "uninterrupted run on $devices, waves of $wave GiB"
start=$(date +%s%N)
quantize "$reference" > /tmp/resume-reference.log 2>&1 || { tail -20 /tmp/resume-reference.log; exit 1; }
seconds=$(( ($(date +%s%N) - start) / 1000000 ))
expected=$(state_hash "$reference")
stamp "uninterrupted: ${seconds} ms, hash $expected, $(find "$reference/layers" -name '*.safetensors' | wc -l) unit files"

failed=0
for after in ${RESUME_KILL_AFTER:-6 12 18}; do
  save=/tmp/resume-killed-$after
  rm -rf "$save"
  stamp "run killed after ${after} s"
  quantize "$save" > "/tmp/resume-$after-first.log" 2>&1 &
  pid=$!
  sleep "$after"
  # SIGKILL the whole process tree: no shutdown hooks, as a crashed node.
  pkill -KILL -P "$pid" 2>/dev/null || true
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  committed=$( (find "$save/layers" -name "*.safetensors" 2>/dev/null || true) | wc -l)
  stamp "killed with $committed unit files on disk; resuming"
  status=0
  quantize "$save" --resume > "/tmp/resume-$after-second.log" 2>&1 || status=$?
  got=$(state_hash "$save")
  same=false
  [ "$got" = "$expected" ] && same=true
  [ "$same" = true ] && [ "$status" = 0 ] || { failed=1; tail -15 "/tmp/resume-$after-second.log"; }
  printf '{"bench":"resume","machine":"%s","model":"built-in tiny-deepseek-v3","devices":"%s","wave_gib":%s,"kill_after_s":%s,"unit_files_at_kill":%s,"resume_exit":%s,"hash":"%s","uninterrupted_hash":"%s","uninterrupted_ms":%s,"identical":%s}\n' \
    "$gpu" "$devices" "$wave" "$after" "$committed" "$status" "$got" "$expected" "$seconds" "$same" | tee -a "$out/resume.jsonl"
done
exit $failed
