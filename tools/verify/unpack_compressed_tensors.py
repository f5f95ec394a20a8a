#!/usr/bin/env python3
"""Independent check of a MoeQuant compressed-tensors `pack-quantized` checkpoint, written from the format spec
(shared/spec/FORMATS.md §3) and not from MoeQuant's C#.

On the GPU machine (python3 with torch, safetensors and transformers):
  1. unpacks every quantized linear with torch: u = (word >> (b·i)) & (2^b − 1), q = u − 2^(b−1) along the input dim
     (lowest column in the least-significant bits), zero points the same way along the output dim when asymmetric,
     W = (q − zp) × scale in fp32 with scale row g = g_idx[c] (c // group_size without weight_g_idx), rounded once to
     the scale dtype; records the SHA-256 of each weight's bytes;
  2. writes the dequantized model as a plain bf16 checkpoint, loads it with transformers' DeepseekV3ForCausalLM and
     measures the token-weighted mean NLL on the given held-out token ids (labels = input_ids).

The C# tests compare their own reader's dequantized weights with these hashes (exact) and `moequant eval`'s NLL with
this one (within 1e-3). Usage:
  python3 tools/verify/unpack_compressed_tensors.py --packed DIR --input-ids FILE.jsonl --out RESULT.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import tiny_checkpoint as ckpt  # noqa: E402  (the fixtures' checkpoint writer)
from tiny_evaluation import mean_nll  # noqa: E402  (the held-out protocol of the built-in model)


def unpack_rows(words: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    """Codes packed along dim 1 of an int32 tensor → signed codes [rows, count]."""
    per_word = 32 // bits
    u32 = words.to(torch.int64) & 0xFFFFFFFF
    shifts = torch.arange(per_word, dtype=torch.int64) * bits
    values = (u32.unsqueeze(-1) >> shifts) & ((1 << bits) - 1)
    return values.reshape(words.shape[0], -1)[:, :count] - (1 << (bits - 1))


def dequantize(tensors: dict[str, torch.Tensor], prefix: str, scheme: dict) -> torch.Tensor:
    bits, group = scheme["num_bits"], scheme.get("group_size")
    out, columns = (int(v) for v in tensors[prefix + ".weight_shape"].tolist())
    q = unpack_rows(tensors[prefix + ".weight_packed"], bits, columns).float()
    scale = tensors[prefix + ".weight_scale"]
    if prefix + ".weight_g_idx" in tensors:
        g_idx = tensors[prefix + ".weight_g_idx"].long()
    else:
        g_idx = torch.arange(columns) // (group if group else columns)
    zero = torch.zeros(out, scale.shape[1])
    if not scheme.get("symmetric", True):
        zero = unpack_rows(tensors[prefix + ".weight_zero_point"].t().contiguous(), bits, out).t().float()
    w = (q - zero[:, g_idx]) * scale.float()[:, g_idx]
    return w.to(scale.dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packed", type=Path, required=True)
    parser.add_argument("--input-ids", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    config = json.loads((args.packed / "config.json").read_text())
    quant = config.pop("quantization_config")
    assert quant["quant_method"] == "compressed-tensors" and quant["format"] == "pack-quantized", quant
    schemes = [g["weights"] for g in quant["config_groups"].values()]
    assert len(schemes) == 1, "one weight scheme expected"
    tensors: dict[str, torch.Tensor] = {}
    for shard in sorted(args.packed.glob("*.safetensors")):
        tensors.update(load_file(str(shard)))

    prefixes = sorted(n[: -len(".weight_packed")] for n in tensors if n.endswith(".weight_packed"))
    weights, hashes = {}, {}
    for prefix in prefixes:
        w = dequantize(tensors, prefix, schemes[0])
        weights[prefix + ".weight"] = w
        hashes[prefix + ".weight"] = hashlib.sha256(w.contiguous().view(torch.int16).numpy().tobytes()).hexdigest()
    suffixes = (".weight_packed", ".weight_scale", ".weight_shape", ".weight_zero_point", ".weight_g_idx")
    plain = {n: t for n, t in tensors.items() if not n.endswith(suffixes)}
    state = {**plain, **weights}
    print(f"{len(prefixes)} quantized linears unpacked, {len(plain)} other tensors", flush=True)

    ids = [json.loads(line) for line in args.input_ids.read_text().splitlines() if line.strip()]
    folder = Path(tempfile.mkdtemp(prefix="moequant-unpacked-"))
    try:
        ckpt.write_checkpoint(folder, config, state, {})
        from transformers import DeepseekV3ForCausalLM

        model = DeepseekV3ForCausalLM.from_pretrained(str(folder), dtype=torch.bfloat16).to("cuda").eval()
        for name, module in model.named_modules():  # DeepSeek keeps the router bias in f32, as MoeQuant's forward does
            if hasattr(module, "e_score_correction_bias"):
                key = f"model.{name.removeprefix('model.')}.e_score_correction_bias"
                module.e_score_correction_bias.data = state[key].float().to("cuda")
        result = mean_nll(model, ids, args.batch)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    import transformers
    args.out.write_text(json.dumps({
        "packed": str(args.packed), "input_ids": str(args.input_ids), "scheme": schemes[0],
        "torch": torch.__version__, "transformers": transformers.__version__,
        "gpu": torch.cuda.get_device_name(0), "mean_nll": result["mean_nll"], "perplexity": result["perplexity"],
        "predicted_tokens": result["predicted_tokens"], "dequantized_sha256": hashes}, indent=1) + "\n")
    print(f"mean NLL {result['mean_nll']:.6f}, perplexity {result['perplexity']:.4f} over {result['predicted_tokens']} tokens")


if __name__ == "__main__":
    main()
