#!/usr/bin/env bash
# Builds a self-contained linux-x64 `moequant` for the GPU machine and packs it as .device-pub/moequant-linux-x64.tar.xz.
# The libtorch CPU natives (~600 MB) are left out: on the GPU machine bench/device/run.sh puts the Python torch
# install's CUDA-enabled libtorch on LD_LIBRARY_PATH instead. Carry `.device-pub` with the device tool.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=.device-pub
pub="$out/moequant"
rm -rf "$pub"
mkdir -p "$out"
dotnet publish Coordinator/Coordinator.csproj -c Release -r linux-x64 --self-contained -o "$pub" -p:DebugType=none -nologo -v quiet

# Everything of libtorch-cpu-linux-x64; libLibTorchSharp.so (TorchSharp's own binding) stays.
find "$pub" -maxdepth 1 \( -name 'libtorch*.so*' -o -name 'libc10*.so*' -o -name 'libgomp*.so*' -o -name 'libshm*.so*' \
  -o -name 'libbackend_with_compiler.so' -o -name 'libjitbackend_test.so' -o -name 'libnnapi_backend.so' \
  -o -name 'libaoti_custom_ops.so' \) -delete
# win/osx natives are useless there. The linux-x64 libSkiaSharp.so and libHarfBuzzSharp.so stay: the quality report's
# plot needs them (dependency-free builds, no fontconfig; the font is embedded in moequant).
rm -rf "$pub"/runtimes/win* "$pub"/runtimes/osx*
# The device tool carries at most 64 MiB with the working tree: the built-in model travels in the tree (assets/), and
# bench/device/run.sh links it back; the runtime's debugger, tracing and alternative-GC natives are never used there.
rm -rf "$pub/builtin"
rm -f "$pub"/libmscordaccore.so "$pub"/libmscordbi.so "$pub"/createdump "$pub"/libcoreclrtraceptprovider.so \
  "$pub"/libclrgc.so "$pub"/libclrgcexp.so
# Framework assemblies nothing in moequant loads (checked by a run without them); System.Private.Xml stays: Akka reads
# System.Configuration through it.
rm -f "$pub"/Microsoft.VisualBasic*.dll "$pub"/System.Data.Common.dll "$pub"/System.Private.DataContractSerialization.dll

tar -C "$out" -cf - moequant | xz -9e -T0 > "$out/moequant-linux-x64.tar.xz"
ls -l "$out/moequant-linux-x64.tar.xz"
