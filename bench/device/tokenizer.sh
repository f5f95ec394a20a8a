#!/usr/bin/env bash
# On the GPU machine, in one device call (about a minute on 16 cores): issue #5's tokenizer items that need HF.
#  (a) tools/fixtures/make_tokenizer_reference.py with HF tokenizers/transformers: $OUT/tokenizer-reference.jsonl and
#      $OUT/chat-template-reference.jsonl (commit both into tests/Model.Tests/Fixtures), the library versions and how
#      the installed transformers compares in $OUT/tokenizer-reference-summary.json;
#  (b) tokenization speed: `moequant bench tokenize` writes the benchmark text, tools/bench_tokenizer_hf.py times HF
#      tokenizers (Rust) on it ($OUT/tokenize-hf.json), then moequant times itself on the same file with that as its
#      baseline ($OUT/tokenize.jsonl, one line: machine, inputs, both results, ratios).
# Needs .device-pub from bench/device/publish.sh (carry it), python3 with tokenizers, transformers and torch (run.sh
# takes libtorch from it); no .NET SDK, no network. A failing half does not stop the other; the script exits non-zero
# and names what failed. Usage, from the repository root: OUT=/some/dir bench/device/tokenizer.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:?set OUT to the folder that comes back}
tokenizer=tests/Model.Tests/Fixtures/deepseek-v3-tokenizer
text=/tmp/moequant-tokenizer-bench.jsonl
failed=()
# No network there: transformers must not try the hub (the tokenizer is a local folder); each command has a time
# limit, together under the device tool's 600 s.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
unset TOKENIZERS_PARALLELISM

source bench/device/step.sh

versions() {
  python3 - <<'EOF' | tee "$out/versions.json"
import json, os, platform, sys
found = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}
for module in ("tokenizers", "transformers", "jinja2", "torch"):
    try:
        found[module] = __import__(module).__version__
    except Exception as error:  # noqa: BLE001 - reported, the steps that need it fail on their own
        found[module] = f"unavailable: {error}"
print(json.dumps(found))
EOF
  grep -m1 "model name" /proc/cpuinfo || true
}

fixtures() {
  timeout 150 python3 tools/fixtures/make_tokenizer_reference.py "$tokenizer" --out-dir "$out" > "$out/tokenizer-reference-summary.json"
  cat "$out/tokenizer-reference-summary.json"
  wc -l "$out/tokenizer-reference.jsonl" "$out/chat-template-reference.jsonl"
}

speed() {
  timeout 60 bench/device/run.sh bench tokenize --write-text "$text"
  timeout 150 python3 tools/bench_tokenizer_hf.py "$text" "$tokenizer/tokenizer.json" > "$out/tokenize-hf.json"
  cat "$out/tokenize-hf.json"
  timeout 150 bench/device/run.sh bench tokenize --model-name-or-path "$tokenizer" --text "$text" --hf "$out/tokenize-hf.json" --out "$out/tokenize.jsonl"
  python3 - "$out/tokenize.jsonl" <<'EOF'
import json, sys
results = json.loads(open(sys.argv[1]).readlines()[-1])["results"]
ours, hf = results["moequant"], results["hf"]
print(f"one thread: moequant {ours['oneThreadMegabytesPerSecond']:.1f} MB/s, HF {hf['one_thread_mb_per_s']:.1f} MB/s, "
      f"ratio {results['ratioToHf']['oneThread']:.2f}")
print(f"all cores:  moequant {ours['allCoresMegabytesPerSecond']:.1f} MB/s, HF {hf['all_cores_mb_per_s']:.1f} MB/s, "
      f"ratio {results['ratioToHf']['allCores']:.2f}")
print(f"same text: {results['sameText']}, same token count: {results['sameTokenCount']} ({ours['tokens']} vs {hf['tokens']})")
if not (results["sameText"] and results["sameTokenCount"]):
    sys.exit("the two sides did not encode the same text into the same number of tokens")
EOF
}

step versions versions
step fixtures fixtures
step speed speed
ls -l "$out"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all steps passed"
