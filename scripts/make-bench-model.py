#!/usr/bin/env python3
"""Writes a random-weight Qwen2 model in Hugging Face format (config.json, generation_config.json,
sharded safetensors + model.safetensors.index.json) with numpy and the standard library only.

Defaults are DeepSeek-R1-Distill-Qwen-1.5B's dimensions (vocab 151936, hidden 1536, intermediate
8960, 28 layers, 12 heads, 2 KV heads, untied, bf16: about 3.5 GB). Never write it into the repo:

    python3 scripts/make-bench-model.py --out /work/models/bench-1.5b
    python3 scripts/make-bench-model.py --out /tmp/demo-qwen --hidden 64 --intermediate 128 --layers 21 --heads 4 --kv-heads 2

The same arguments and --seed always give the same bytes: each tensor has its own generator seeded
with (seed, tensor index), and tensors are written in fixed-size row blocks.
"""
import argparse
import json
import os
import struct

import numpy as np

DTYPES = {"bf16": ("BF16", 2), "f16": ("F16", 2), "f32": ("F32", 4)}


def tensor_list(a):
    q = a.heads * (a.hidden // a.heads)
    kv = a.kv_heads * (a.hidden // a.heads)
    h, i = a.hidden, a.intermediate
    out = [("model.embed_tokens.weight", [a.vocab, h], "embedding")]
    for l in range(a.layers):
        p = f"model.layers.{l}."
        out += [
            (p + "input_layernorm.weight", [h], "norm"),
            (p + "self_attn.q_proj.weight", [q, h], "matrix"), (p + "self_attn.q_proj.bias", [q], "bias"),
            (p + "self_attn.k_proj.weight", [kv, h], "matrix"), (p + "self_attn.k_proj.bias", [kv], "bias"),
            (p + "self_attn.v_proj.weight", [kv, h], "matrix"), (p + "self_attn.v_proj.bias", [kv], "bias"),
            (p + "self_attn.o_proj.weight", [h, q], "matrix"),
            (p + "post_attention_layernorm.weight", [h], "norm"),
            (p + "mlp.gate_proj.weight", [i, h], "matrix"), (p + "mlp.up_proj.weight", [i, h], "matrix"),
            (p + "mlp.down_proj.weight", [h, i], "matrix"),
        ]
    out.append(("model.norm.weight", [h], "norm"))
    if not a.tied:
        out.append(("lm_head.weight", [a.vocab, h], "matrix"))
    return out


def encode(values, dtype):
    """float32 array → little-endian bytes in dtype (bf16 rounds to nearest even)."""
    if dtype == "f32":
        return values.astype("<f4").tobytes()
    if dtype == "f16":
        return values.astype("<f2").tobytes()
    bits = values.astype(np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype("<u2").tobytes()


def blocks(shape, kind, rng, rows_per_block):
    """The tensor's values as float32 row blocks."""
    rows = shape[0]
    cols = shape[1] if len(shape) > 1 else 1
    for start in range(0, rows, rows_per_block):
        n = min(rows_per_block, rows - start)
        x = rng.standard_normal((n, cols), dtype=np.float32)
        if kind == "norm":
            x = 1.0 + 0.1 * x
        elif kind == "bias":
            x *= 0.05
        else:
            x *= 0.02
        yield x.reshape(-1) if len(shape) == 1 else x


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="model directory to create (outside the repository)")
    ap.add_argument("--vocab", type=int, default=151936)
    ap.add_argument("--hidden", type=int, default=1536)
    ap.add_argument("--intermediate", type=int, default=8960)
    ap.add_argument("--layers", type=int, default=28)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    ap.add_argument("--tied", action="store_true", help="tie lm_head to the embedding (no lm_head.weight)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--max-position", type=int, default=131072)
    ap.add_argument("--bos", type=int, default=151646)
    ap.add_argument("--eos", type=int, default=151643)
    ap.add_argument("--shard-mb", type=int, default=2000, help="largest shard size in MB")
    a = ap.parse_args()
    if a.hidden % a.heads or a.heads % a.kv_heads or (a.hidden // a.heads) % 2:
        ap.error("hidden must split into an even head size over --heads, and --heads must be a multiple of --kv-heads")
    os.makedirs(a.out, exist_ok=True)
    name, size = DTYPES[a.dtype]
    tensors = tensor_list(a)

    # Assign tensors to shards in order.
    shards, current, current_bytes = [], [], 0
    for t in tensors:
        nbytes = int(np.prod(t[1])) * size
        if current and current_bytes + nbytes > a.shard_mb * 1_000_000:
            shards.append(current)
            current, current_bytes = [], 0
        current.append(t)
        current_bytes += nbytes
    shards.append(current)

    weight_map, total = {}, 0
    index_of = {t[0]: i for i, t in enumerate(tensors)}
    for s, shard in enumerate(shards):
        file = f"model-{s + 1:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for tname, shape, _ in shard:
            nbytes = int(np.prod(shape)) * size
            header[tname] = {"dtype": name, "shape": shape, "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
            weight_map[tname] = file
        text = json.dumps(header, separators=(",", ":"))
        text += " " * ((8 - (8 + len(text)) % 8) % 8)  # data section 8-byte aligned
        with open(os.path.join(a.out, file), "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text.encode())
            for tname, shape, kind in shard:
                rng = np.random.default_rng([a.seed, index_of[tname]])
                rows_per_block = max(1, (1 << 22) // (shape[1] if len(shape) > 1 else 1))
                for block in blocks(shape, kind, rng, rows_per_block):
                    f.write(encode(block, a.dtype))
        total += offset
        print(f"wrote {file} ({offset / 1e9:.2f} GB, {len(shard)} tensors)")
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)

    torch_dtype = {"bf16": "bfloat16", "f16": "float16", "f32": "float32"}[a.dtype]
    config = {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "attention_dropout": 0.0,
        "bos_token_id": a.bos, "eos_token_id": a.eos, "hidden_act": "silu",
        "hidden_size": a.hidden, "initializer_range": 0.02, "intermediate_size": a.intermediate,
        "max_position_embeddings": a.max_position, "max_window_layers": 21,
        "num_attention_heads": a.heads, "num_hidden_layers": a.layers, "num_key_value_heads": a.kv_heads,
        "rms_norm_eps": 1e-6, "rope_scaling": None, "rope_theta": a.rope_theta, "sliding_window": 4096,
        "tie_word_embeddings": a.tied, "torch_dtype": torch_dtype, "use_cache": True,
        "use_mrope": False, "use_sliding_window": False, "vocab_size": a.vocab,
    }
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    generation = {"_from_model_config": True, "bos_token_id": a.bos, "eos_token_id": a.eos,
                  "do_sample": True, "temperature": 0.6, "top_p": 0.95}
    with open(os.path.join(a.out, "generation_config.json"), "w") as f:
        json.dump(generation, f, indent=2, sort_keys=True)
    print(f"wrote {a.out}: {total / 1e9:.2f} GB of {a.dtype} weights in {len(shards)} shards")


if __name__ == "__main__":
    main()
