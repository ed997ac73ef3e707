#!/usr/bin/env python3
"""Write random k-SAEs in sparsify's on-disk format, and optionally matching inputs.

    <out>/<hookpoint>/cfg.json          sparsify SparseCoderConfig + d_in
    <out>/<hookpoint>/sae.safetensors   encoder.weight [N, d], encoder.bias [N], b_dec [d], W_dec [N, d]

The SAE looks like a trained one rather than pure noise: W_dec rows are unit-norm random
directions (sparsify's normalize_decoder), the encoder starts tied to the decoder as
sparsify initialises it (encoder.weight = W_dec, here plus noise), the encoder bias is
slightly negative, and --input writes activations built from a few decoder directions
each, so top-k finds real structure and the fit check (FVU) is well below 0.5.

Deterministic per (seed, hookpoint). Needs only numpy and the standard library; large
SAEs (65,536 x 1536) are generated in latent chunks so memory stays bounded.

    scripts/make-random-sae.py --out /work/models/sae-bench-f32 --hookpoints layers.10.mlp \
        --d-in 1536 --num-latents 65536 --k 32 --dtype F32 --seed 0 \
        --input /work/models/sae-bench-x.safetensors --tokens 400
"""
import argparse
import json
import os
import struct
import zlib

import numpy as np

CHUNK = 4096  # latents generated at a time


def to_bf16_bits(a):
    """float32 -> bf16 raw bits, round to nearest even (as torch does)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounded = u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))
    return (rounded >> np.uint32(16)).astype(np.uint16)


def encode_array(a, dtype):
    if dtype == "F32":
        return np.ascontiguousarray(a, dtype="<f4").tobytes()
    if dtype == "BF16":
        return to_bf16_bits(a).astype("<u2").tobytes()
    if dtype == "F16":
        return np.ascontiguousarray(a, dtype="<f2").tobytes()
    raise ValueError(dtype)


BYTES = {"F32": 4, "BF16": 2, "F16": 2}


class SafetensorsLayout:
    """Header first, then tensors written (possibly in pieces) at their offsets."""

    def __init__(self, path, tensors):
        # tensors: list of (name, dtype, shape)
        self.path = path
        header, offset, self.offsets = {}, 0, {}
        for name, dtype, shape in tensors:
            size = int(np.prod(shape)) * BYTES[dtype]
            header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
            self.offsets[name] = offset
            offset += size
        text = json.dumps(header, separators=(",", ":"), sort_keys=True)
        text += " " * ((8 - (8 + len(text)) % 8) % 8)
        self.data_start = 8 + len(text)
        self.file = open(path + ".tmp", "wb")
        self.file.write(struct.pack("<Q", len(text)))
        self.file.write(text.encode())
        self.file.truncate(self.data_start + offset)

    def write(self, name, byte_offset, data):
        self.file.seek(self.data_start + self.offsets[name] + byte_offset)
        self.file.write(data)

    def close(self):
        self.file.close()
        os.replace(self.path + ".tmp", self.path)


def hookpoint_seed(seed, hookpoint):
    return [seed, zlib.crc32(hookpoint.encode())]


def make_sae(folder, hookpoint, d_in, num_latents, k, dtype, seed, activation, tokens=0, offsets=1.0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(hookpoint_seed(seed, hookpoint)))
    cfg = {
        "activation": activation,
        "expansion_factor": max(1, num_latents // d_in),
        "normalize_decoder": True,
        "num_latents": num_latents,
        "k": k,
        "multi_topk": False,
        "skip_connection": False,
        "transcode": False,
        "d_in": d_in,
    }
    with open(os.path.join(folder, "cfg.json"), "w") as f:
        json.dump(cfg, f)

    # `offsets` scales b_dec and the encoder bias. The demo uses 0: its random model's
    # activations are tiny, and offsets of this size would pick the same latents for every token.
    b_dec = (offsets * 0.1 * rng.standard_normal(d_in)).astype(np.float32)
    bias = (offsets * (-0.02 - 0.02 * np.abs(rng.standard_normal(num_latents)))).astype(np.float32)
    # Inputs: each token mixes `k` decoder directions with positive weights, plus noise.
    chosen = rng.integers(0, num_latents, size=(tokens, k)) if tokens else None
    weights = (0.5 + 2.0 * np.abs(rng.standard_normal((tokens, k)))).astype(np.float32) if tokens else None
    x = np.zeros((tokens, d_in), dtype=np.float64)

    layout = SafetensorsLayout(os.path.join(folder, "sae.safetensors"), [
        ("W_dec", dtype, (num_latents, d_in)),
        ("b_dec", dtype, (d_in,)),
        ("encoder.bias", dtype, (num_latents,)),
        ("encoder.weight", dtype, (num_latents, d_in)),
    ])
    row_bytes = d_in * BYTES[dtype]
    for start in range(0, num_latents, CHUNK):
        n = min(CHUNK, num_latents - start)
        w_dec = rng.standard_normal((n, d_in)).astype(np.float32)
        w_dec /= np.linalg.norm(w_dec, axis=1, keepdims=True)
        encoder = w_dec + (0.3 / np.sqrt(d_in)) * rng.standard_normal((n, d_in)).astype(np.float32)
        if dtype == "BF16":
            # Inputs are built from the weights as stored.
            w_dec = (to_bf16_bits(w_dec).astype(np.uint32) << 16).view(np.float32)
        layout.write("W_dec", start * row_bytes, encode_array(w_dec, dtype))
        layout.write("encoder.weight", start * row_bytes, encode_array(encoder, dtype))
        if tokens:
            hit = (chosen >= start) & (chosen < start + n)
            for t, j in zip(*np.nonzero(hit)):
                x[t] += weights[t, j] * w_dec[chosen[t, j] - start]
    layout.write("b_dec", 0, encode_array(b_dec, dtype))
    layout.write("encoder.bias", 0, encode_array(bias, dtype))
    layout.close()
    if tokens:
        b = b_dec if dtype == "F32" else (to_bf16_bits(b_dec).astype(np.uint32) << 16).view(np.float32)
        x += b + 0.05 * rng.standard_normal((tokens, d_in))
    return x.astype(np.float32)


def write_input(path, x, dtype):
    layout = SafetensorsLayout(path, [("x", dtype, x.shape)])
    layout.write("x", 0, encode_array(x, dtype))
    layout.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="checkpoint directory (one folder per hookpoint)")
    p.add_argument("--hookpoints", default="layers.10.mlp", help="comma-separated hookpoint names")
    p.add_argument("--d-in", type=int, default=1536)
    p.add_argument("--num-latents", type=int, default=65536)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--dtype", choices=["F32", "BF16"], default="F32")
    p.add_argument("--activation", choices=["topk", "groupmax"], default="topk")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input", help="also write inputs for the first hookpoint: a safetensors file with x [tokens, d_in]")
    p.add_argument("--input-dtype", choices=["F32", "BF16", "F16"], default="F32")
    p.add_argument("--tokens", type=int, default=400)
    p.add_argument("--offsets", type=float, default=1.0, help="scale of b_dec and the encoder bias (0 for none)")
    args = p.parse_args()

    hookpoints = [h for h in args.hookpoints.split(",") if h]
    for i, hookpoint in enumerate(hookpoints):
        tokens = args.tokens if (args.input and i == 0) else 0
        x = make_sae(os.path.join(args.out, hookpoint), hookpoint, args.d_in, args.num_latents, args.k,
                     args.dtype, args.seed, args.activation, tokens=tokens, offsets=args.offsets)
        print(f"wrote {os.path.join(args.out, hookpoint)} ({args.num_latents} x {args.d_in} {args.dtype}, k {args.k})")
        if tokens:
            write_input(args.input, x, args.input_dtype)
            print(f"wrote {args.input} (x [{tokens}, {args.d_in}] {args.input_dtype})")


if __name__ == "__main__":
    main()
