#!/usr/bin/env python3
"""Times HF tokenizers (Rust) on the text MoeQuant's tokenizer benchmark encodes, and prints one JSON object.

`moequant bench tokenize --hf FILE` reads that object as its same-run baseline. On the GPU machine (python3 and
`tokenizers`, no .NET SDK) bench/device/tokenizer.sh runs both sides on the same file:

    bench/device/run.sh bench tokenize --write-text /tmp/bench-text.jsonl
    python3 tools/bench_tokenizer_hf.py /tmp/bench-text.jsonl tests/Model.Tests/Fixtures/deepseek-v3-tokenizer/tokenizer.json > hf.json
    bench/device/run.sh bench tokenize --model-name-or-path tests/Model.Tests/Fixtures/deepseek-v3-tokenizer \
        --text /tmp/bench-text.jsonl --hf hf.json --out tokenize.jsonl

The text file is JSON Lines, one JSON string (document) per line. "one thread" encodes document by document; "all cores"
uses encode_batch, which tokenizers spreads over its Rayon thread pool (all cores unless RAYON_NUM_THREADS says
otherwise). No special tokens are added. A first pass warms the cache and is not timed; then each mode runs --repeat
times and the fastest pass counts, as on the C# side.
"""
import argparse
import hashlib
import json
import os
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("text", help="JSON Lines of strings")
    parser.add_argument("tokenizer_json", help="tokenizer.json")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per mode; the fastest counts")
    args = parser.parse_args()
    import tokenizers

    if os.environ.get("TOKENIZERS_PARALLELISM", "").lower() in ("0", "false", "no", "off"):
        sys.exit("TOKENIZERS_PARALLELISM turns encode_batch's threads off; unset it to time all cores")
    with open(args.text, "rb") as f:
        raw = f.read()
    documents = [json.loads(line) for line in raw.decode("utf-8").split("\n") if line.strip()]
    tokenizer = tokenizers.Tokenizer.from_file(args.tokenizer_json)
    megabytes = sum(len(d.encode("utf-8")) for d in documents) / 1e6

    tokens = sum(len(e.ids) for e in (tokenizer.encode(d, add_special_tokens=False) for d in documents))
    one_thread, all_cores = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        for document in documents:
            tokenizer.encode(document, add_special_tokens=False)
        one_thread.append(time.perf_counter() - start)
    for _ in range(args.repeat):
        start = time.perf_counter()
        batch = tokenizer.encode_batch(documents, add_special_tokens=False)
        all_cores.append(time.perf_counter() - start)
    if sum(len(e.ids) for e in batch) != tokens:
        sys.exit("encode_batch produced another token count than encode")

    print(json.dumps({
        "implementation": f"hf-tokenizers {tokenizers.__version__} (python {sys.version.split()[0]})",
        "sha256": hashlib.sha256(raw).hexdigest(),
        "documents": len(documents),
        "megabytes": megabytes,
        "tokens": tokens,
        "one_thread_mb_per_s": megabytes / min(one_thread),
        "one_thread_tokens_per_s": tokens / min(one_thread),
        "all_cores_mb_per_s": megabytes / min(all_cores),
        "all_cores_tokens_per_s": tokens / min(all_cores),
        "one_thread_seconds": one_thread,
        "all_cores_seconds": all_cores,
        "cores": os.cpu_count(),
        "rayon_num_threads": os.environ.get("RAYON_NUM_THREADS") or os.environ.get("RAYON_RS_NUM_CPUS"),
    }))


if __name__ == "__main__":
    main()
