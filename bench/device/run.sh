#!/usr/bin/env bash
# On the GPU machine: unpacks the `moequant` that bench/device/publish.sh built and runs it with the Python torch
# install's libtorch (CUDA) and the CUDA toolkit's libraries on LD_LIBRARY_PATH.
# Usage: bench/device/run.sh <moequant arguments...>     e.g. bench/device/run.sh doctor
set -euo pipefail
cd "$(dirname "$0")/../.."

pack=.device-pub/moequant-linux-x64.tar.xz
bin=/tmp/moequant-device/moequant
if [ ! -x "$bin/moequant" ] || [ "$pack" -nt "$bin/moequant" ]; then
  rm -rf /tmp/moequant-device && mkdir -p /tmp/moequant-device
  tar -C /tmp/moequant-device -xJf "$pack"
fi

# The built-in model is left out of the package (see publish.sh): link it from the working tree.
builtin="$bin/builtin/tiny-deepseek-v3"
if [ ! -e "$builtin/model-fp8" ]; then
  mkdir -p "$builtin"
  assets="$PWD/assets/tiny-deepseek-v3"
  ln -sfn "$assets/model-fp8" "$builtin/model-fp8"
  ln -sf "$assets/text/calibration.txt" "$assets/heldout_ids.jsonl" "$assets/metrics.json" "$builtin/"
fi

torch_lib=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__) + "/lib")')
export LD_LIBRARY_PATH="$torch_lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$bin/moequant" "$@"
