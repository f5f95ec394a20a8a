#!/usr/bin/env python3
"""Times HF tokenizers (Rust) on the text MoeQuant's tokenizer benchmark encodes, and prints JSON of the same shape.

Run both sides on the same file in one device call (the machine needs the .NET SDK, python3 and `tokenizers`), from the
repository root:

    dotnet run -c Release --project bench/Benchmarks -- tokenizer-throughput --write-text /tmp/bench-text.jsonl
    MOEQUANT_BENCH_TEXT=/tmp/bench-text.jsonl dotnet run -c Release --project bench/Benchmarks -- tokenizer-throughput
    python3 tools/bench_tokenizer_hf.py /tmp/bench-text.jsonl tests/Model.Tests/Fixtures/deepseek-v3-tokenizer/tokenizer.json

For BenchmarkDotNet's statistics (MB/s column, HF Rust through Tokenizers.DotNet in the same process) run
`dotnet run -c Release --project bench/Benchmarks -- --filter '*TokenizerThroughput*' --inProcess` (the out-of-process
toolchain cannot find the project, whose assembly is named MoeQuant.Benchmarks).

The text file is JSON Lines, one JSON string (document) per line. "one thread" encodes document by document; "all cores"
uses encode_batch, which tokenizers spreads over its Rayon thread pool. The first pass warms the cache and is not timed.
"""
import json
import os
import sys
import time


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: bench_tokenizer_hf.py TEXT.jsonl TOKENIZER.json")
    import tokenizers

    with open(sys.argv[1], encoding="utf-8") as f:
        documents = [json.loads(line) for line in f if line.strip()]
    tokenizer = tokenizers.Tokenizer.from_file(sys.argv[2])
    megabytes = sum(len(d.encode("utf-8")) for d in documents) / 1e6

    for document in documents:
        tokenizer.encode(document, add_special_tokens=False)
    start = time.perf_counter()
    tokens = sum(len(tokenizer.encode(d, add_special_tokens=False).ids) for d in documents)
    one_thread = time.perf_counter() - start

    start = time.perf_counter()
    tokenizer.encode_batch(documents, add_special_tokens=False)
    all_cores = time.perf_counter() - start

    print(json.dumps({
        "implementation": f"hf-tokenizers {tokenizers.__version__}",
        "megabytes": megabytes,
        "tokens": tokens,
        "one_thread_mb_per_s": megabytes / one_thread,
        "all_cores_mb_per_s": megabytes / all_cores,
        "cores": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
