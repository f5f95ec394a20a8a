#!/usr/bin/env python3
"""MoE-Quant's own GPTQ (IST-DASLab/MoE-Quant, src/gptq.py + its Triton loop) on DeepSeek-V3 expert shapes, as the
baseline of `moequant bench gptq`. It also writes the problems (weights and Hessians) so that MoeQuant quantizes the
very same inputs in the same device call.

Run on the GPU machine, with a checkout of MoE-Quant (not part of this repository) at MQ_DIR:
    [TOKENS=8192] [REL_DAMP=0.1] python3 tools/bench/moequant_reference_gptq.py MQ_DIR problems.safetensors moe-quant.jsonl
Problems: for each shape R×C in (2048×7168, 7168×2048): weight_RxC (bf16, randn·0.02), hessian_RxC (fp32, MoE-Quant's
running-average 2/n·XᵀX over 8192 correlated bf16 tokens), and codes_RxC_<order>_<scale> (MoE-Quant's uint8 codes).
Each result line: shape, order, scale, MoE-Quant's median ms per matrix and its proxy losses (GPTQ and round-to-nearest).
"""
import json, os, sys, time
import torch
from safetensors.torch import save_file

GROUP, BITS = 128, 4
# Calibration tokens per Hessian and relative damping: 8192 and 0.1 by default; the environment may ask for harder
# problems (MoE-Quant's own default damping is 0.01, and rare experts see fewer tokens than columns).
TOKENS = int(os.environ.get("TOKENS", "8192"))
REL_DAMP = float(os.environ.get("REL_DAMP", "0.1"))
CONFIGS = [("default", "absmax"), ("activation", "mse")]


def problem(rows, cols, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    weight = (torch.randn(rows, cols, device="cuda", generator=g) * 0.02).bfloat16()
    mixing = torch.randn(cols, cols, device="cuda", generator=g) / cols ** 0.5 + torch.eye(cols, device="cuda")
    x = (torch.randn(TOKENS, cols, device="cuda", generator=g) @ mixing).bfloat16().float()
    hessian = torch.zeros(cols, cols, device="cuda")
    hessian.addmm_(x.T, x, beta=0.0, alpha=2.0 / TOKENS)  # MoE-Quant's update for a first batch of TOKENS samples
    return weight, hessian


def proxy_loss(weight, dequantized, hessian):
    delta = weight.float() - dequantized.float()
    return ((delta @ hessian) * delta).sum().item() / ((weight.float() @ hessian) * weight.float()).sum().item()


def main(mq_dir, problems_path, results_path):
    sys.path.insert(0, mq_dir)
    from src import gptq, quant_utils  # noqa: E402  (MoE-Quant's modules)

    tensors, lines = {}, []
    for rows, cols in [(2048, 7168), (7168, 2048)]:
        weight, hessian = problem(rows, cols, seed=rows)
        tensors[f"weight_{rows}x{cols}"] = weight.cpu()
        tensors[f"hessian_{rows}x{cols}"] = hessian.cpu()
        for order, scale_kind in CONFIGS:
            layer = torch.nn.Linear(cols, rows, bias=False, device="cuda", dtype=torch.bfloat16)
            layer.weight.data.copy_(weight)

            def run():
                handle = gptq.GPTQ(layer, group_size=GROUP, sym=True, rel_damp=REL_DAMP, block_size=128,
                                   quantization_order=order, quantization_scale=scale_kind)
                handle.H, handle.num_samples = hessian.clone(), TOKENS
                return handle.quantize(BITS)

            for _ in range(2):
                run()
            times = []
            for _ in range(5):
                torch.cuda.synchronize(); start = time.perf_counter()
                qweight, scale, zero = run()
                torch.cuda.synchronize(); times.append((time.perf_counter() - start) * 1e3)
            expand = lambda t: t.float().repeat_interleave(GROUP, dim=1)
            dequantized = (qweight.float() - expand(zero)) * expand(scale)
            rtn_scale, rtn_zero, maxq = quant_utils.get_quantization_grid(weight=weight.float(), group_size=GROUP, bits=BITS,
                                                                         symmetric=True, dtype=torch.bfloat16,
                                                                         quantization_scale=scale_kind)
            rtn = (torch.clamp(torch.floor(weight.float() / rtn_scale + rtn_zero + 0.5), 0, maxq) - rtn_zero) * rtn_scale
            tensors[f"codes_{rows}x{cols}_{order}_{scale_kind}"] = qweight.cpu()
            lines.append({"rows": rows, "columns": cols, "order": order, "scale": scale_kind, "bits": BITS, "groupSize": GROUP,
                          "relDamp": REL_DAMP, "tokens": TOKENS, "moeQuantMs": sorted(times)[len(times) // 2],
                          "moeQuantProxyLoss": proxy_loss(weight, dequantized, hessian),
                          "roundToNearestProxyLoss": proxy_loss(weight, rtn, hessian),
                          "gpu": torch.cuda.get_device_name(), "torch": torch.__version__})
            print(json.dumps(lines[-1]), flush=True)
    save_file(tensors, problems_path)
    with open(results_path, "w") as f:
        f.writelines(json.dumps(l) + "\n" for l in lines)


if __name__ == "__main__":
    main(*sys.argv[1:4])
