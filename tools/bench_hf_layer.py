#!/usr/bin/env python3
"""Throughput of transformers' own DeepseekV3DecoderLayer (the first MoE layer) at DeepSeek-V3's dimensions, the
baseline of MoeQuant's ForwardBenchmark (Model/Forward/ForwardBenchmark.cs): random bf16 weights, hidden states
[batch, seq, 7168], causal sdpa attention, routed experts through transformers' grouped_mm (what from_pretrained picks
on an H100 with torch 2.11) or its eager per-expert loop (what a standalone layer falls back to). Prints one JSON line.

Run on the GPU machine (torch + transformers 5.x), in the same device call as the MoeQuant runner:
    python3 tools/bench_hf_layer.py [--batch 8] [--seq 4096] [--warmup 1] [--repetitions 3] [--experts grouped_mm|eager]
"""
import argparse, json, statistics, time
import torch
import transformers
from transformers import DeepseekV3Config
from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3DecoderLayer, DeepseekV3RotaryEmbedding


def deepseek_v3_config(experts):
    config = DeepseekV3Config(
        vocab_size=129280, hidden_size=7168, intermediate_size=18432, moe_intermediate_size=2048,
        num_hidden_layers=61, first_k_dense_replace=3, num_attention_heads=128, num_key_value_heads=128,
        q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
        n_routed_experts=256, n_shared_experts=1, num_experts_per_tok=8, n_group=8, topk_group=4,
        routed_scaling_factor=2.5, norm_topk_prob=True, hidden_act="silu", rms_norm_eps=1e-6,
        max_position_embeddings=163840, rope_theta=10000.0,
        rope_scaling={"type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096, "beta_fast": 32.0,
                      "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0},
    )
    config._attn_implementation = "sdpa"
    config._experts_implementation = experts
    return config


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=4096)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--experts", choices=["grouped_mm", "eager"], default="grouped_mm")
    args = parser.parse_args()

    torch.manual_seed(0)
    device = torch.device("cuda")
    config = deepseek_v3_config(args.experts)
    # Built directly on the GPU in bf16: the 22 GB of expert weights never exist in fp32.
    torch.set_default_dtype(torch.bfloat16)
    with device:
        layer = DeepseekV3DecoderLayer(config, layer_idx=config.first_k_dense_replace).eval()
        rotary = DeepseekV3RotaryEmbedding(config)
    torch.set_default_dtype(torch.float32)
    with torch.no_grad():
        # Matrices N(0, 0.02²) like MoeQuant's RandomWeightSource; the experts' fused parameters start uninitialised.
        for name, p in layer.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.02)
            else:
                p.fill_(1.0)
        layer.mlp.gate.e_score_correction_bias.normal_(0.0, 0.01)

        hidden = torch.randn(args.batch, args.seq, config.hidden_size, dtype=torch.bfloat16, device=device)
        position_ids = torch.arange(args.seq, device=device).unsqueeze(0)
        position_embeddings = rotary(hidden, position_ids)

        def forward():
            return layer(hidden, attention_mask=None, position_ids=position_ids, position_embeddings=position_embeddings)

        for _ in range(args.warmup):
            forward()
        times = []
        for _ in range(args.repetitions):
            torch.cuda.synchronize()
            start = time.perf_counter()
            forward()
            torch.cuda.synchronize()
            times.append((time.perf_counter() - start) * 1000.0)

    ms = statistics.median(times)
    print(json.dumps({
        "benchmark": "decoder-layer-forward", "implementation": "transformers DeepseekV3DecoderLayer",
        "transformers": transformers.__version__, "torch": torch.__version__, "gpu": torch.cuda.get_device_name(),
        "attention": config._attn_implementation, "experts": getattr(config, "_experts_implementation", None),
        "layer": config.first_k_dense_replace, "batch": args.batch, "seq": args.seq, "ms": ms,
        "tokensPerSecond": args.batch * args.seq / ms * 1000.0,
        "peakMemoryGiB": torch.cuda.max_memory_allocated() / 2**30,
    }))


if __name__ == "__main__":
    main()
