#!/usr/bin/env python3
"""Checks a `thinklens export delphi` cache with EleutherAI delphi itself (never run in CI).

Reads the result BUNDLE directly (inferences.jsonl, latents/index.csv,
latents/<hookpoint>.safetensors) and works out what the cache must hold: each problem's
prompt + generation cut into CTX_LEN-token rows padded with the eos id, and every latent
entry with |activation| > 1e-5 at (row, position in row) as float16. Then it loads EXPORT
with delphi's `LatentDataset` and checks:

  1. the latent ranges (file names) are delphi's own: torch.linspace(0, width, splits + 1);
  2. `tokens` (what delphi's dataset holds) equals the rows built from the bundle;
  3. every latent's activating examples (locations and activations, read by delphi's
     TensorBuffer) equal the bundle's, one for one, and the token delphi sees at each
     location is the bundle's token at that position;
  4. delphi's constructor and sampler (`LatentDataset._process_latent`) build records for
     a few latents, and each activating example's tokens and maximum are the bundle's.

usage: verify-delphi-export.py BUNDLE EXPORT [--tokenizer tokenizer.json] [--latents-checked N]
Needs a venv with `eai-delphi` (pip install eai-delphi; it brings torch).
"""
import argparse
import csv
import json
import os
import sys
from collections import defaultdict

import numpy as np
import torch
from safetensors.numpy import load_file

from delphi.config import ConstructorConfig, SamplerConfig
from delphi.latents import LatentDataset
from transformers import PreTrainedTokenizerFast

EXAMPLE_CTX_LEN = 32


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def make_tokenizer(path, vocabulary):
    """The given tokenizer.json, else a word-level stand-in that spells id N as 'tN'
    (delphi only decodes tokens to strings for the explainer's prompt)."""
    if path:
        return PreTrainedTokenizerFast(tokenizer_file=path)
    from tokenizers import Tokenizer, models
    vocab = {f"t{i}": i for i in range(vocabulary)}
    vocab["[UNK]"] = vocabulary
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="[UNK]")))


def expected_cache(bundle, hookpoints, ctx_len, eos):
    """Rows of tokens and, per hookpoint, latent -> [(row, column, float16 activation)]."""
    records = [json.loads(line) for line in open(os.path.join(bundle, "inferences.jsonl")) if line.strip()]
    rows, first_row = [], {}
    sequences = {}
    for record in records:
        sequence = record["prompt_ids"] + record["generated_ids"]
        sequences[record["id"]] = sequence
        first_row[record["id"]] = len(rows)
        for start in range(0, len(sequence), ctx_len):
            window = sequence[start:start + ctx_len]
            rows.append(window + [eos] * (ctx_len - len(window)))
    tokens = torch.tensor(rows, dtype=torch.int64).reshape(-1, ctx_len)
    index = defaultdict(dict)
    with open(os.path.join(bundle, "latents", "index.csv")) as f:
        for line in csv.DictReader(f):
            index[line["hookpoint"]][line["id"]] = (int(line["first_row"]), int(line["rows"]))
    entries = {}
    for hookpoint in hookpoints:
        latents = load_file(os.path.join(bundle, "latents", f"{hookpoint}.safetensors"))
        per_latent = defaultdict(list)
        for record in records:
            first, count = index[hookpoint][record["id"]]
            sequence = sequences[record["id"]]
            for r in range(first, first + count):
                position = int(latents["position"][r])
                if int(latents["token"][r]) != sequence[position]:
                    fail(f"bundle {hookpoint} row {r}: token column differs from inferences.jsonl")
                for latent, act in zip(latents["indices"][r], latents["acts"][r]):
                    if abs(act) > 1e-5:
                        row = first_row[record["id"]] + position // ctx_len
                        per_latent[int(latent)].append((row, position % ctx_len, np.float16(act)))
        for latent in per_latent:
            per_latent[latent].sort(key=lambda e: (e[0], e[1]))
        entries[hookpoint] = per_latent
    return tokens, entries


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle")
    parser.add_argument("export")
    parser.add_argument("--tokenizer", help="tokenizer.json for decoding (default: a stand-in)")
    parser.add_argument("--latents-checked", type=int, default=5, help="latents per hookpoint run through the constructor")
    args = parser.parse_args()

    raw_dir = os.path.join(args.export, "latents")
    hookpoints = sorted(os.listdir(raw_dir))
    config = json.load(open(os.path.join(raw_dir, hookpoints[0], "config.json")))
    ctx_len, splits = config["cache_ctx_len"], config["n_splits"]
    manifest = json.load(open(os.path.join(args.bundle, "manifest.json")))
    print(f"export {args.export}: hookpoints {hookpoints}, cache_ctx_len {ctx_len}, n_splits {splits}, model_name {config['model_name']}")

    # 1. Ranges as delphi's LatentCache._generate_split_indices makes them.
    for hookpoint in hookpoints:
        cfg = manifest["saes"][hookpoint]["cfg"]
        width = cfg.get("num_latents") or cfg["d_in"] * cfg.get("expansion_factor", 32)
        boundaries = torch.linspace(0, width, steps=splits + 1).long()
        wanted = {f"{int(s)}_{int(e) - 1}.safetensors" for s, e in zip(boundaries[:-1], boundaries[1:])}
        present = {f for f in os.listdir(os.path.join(raw_dir, hookpoint)) if f.endswith(".safetensors")}
        if wanted != present:
            fail(f"{hookpoint}: files {sorted(present)} are not delphi's ranges {sorted(wanted)}")
        for name in sorted(present):
            data = load_file(os.path.join(raw_dir, hookpoint, name))
            loc = data["locations"]
            fits = loc.size == 0 or loc.max() < 2**16
            if (loc.dtype == np.uint16) != fits or data["activations"].dtype != np.float16 or data["tokens"].dtype != np.int32:
                fail(f"{hookpoint}/{name}: dtypes {loc.dtype}, {data['activations'].dtype}, {data['tokens'].dtype}")
    print(f"1. latent ranges equal torch.linspace(0, width, {splits} + 1) for every hookpoint; dtypes uint16/uint32, float16, int32: ok")

    eos = manifest["model"]["config"].get("eos_token_id")
    eos = eos[0] if isinstance(eos, list) else eos
    if eos is None:
        eos = int(os.environ.get("THINKLENS_EOS_ID", "151643"))
    tokens, expected = expected_cache(args.bundle, hookpoints, ctx_len, eos)

    tokenizer = make_tokenizer(args.tokenizer, int(tokens.max()) + 1)
    sampler_cfg = SamplerConfig(n_examples_train=10, n_examples_test=10, n_quantiles=2)
    constructor_cfg = ConstructorConfig(min_examples=1, example_ctx_len=EXAMPLE_CTX_LEN, n_non_activating=5)
    dataset = LatentDataset(raw_dir=raw_dir, sampler_cfg=sampler_cfg, constructor_cfg=constructor_cfg,
                            tokenizer=tokenizer, modules=hookpoints)

    # 2. Tokens.
    if dataset.tokens is None or not torch.equal(dataset.tokens, tokens):
        fail(f"delphi's tokens {None if dataset.tokens is None else tuple(dataset.tokens.shape)} differ from the bundle's rows {tuple(tokens.shape)}")
    print(f"2. delphi's tokens [{tokens.shape[0]}, {tokens.shape[1]}] equal the bundle's sequences in rows padded with {eos}: ok")

    # 3. Every latent, through delphi's TensorBuffer.
    seen = defaultdict(dict)
    entries = 0
    for buffer in dataset.buffers:
        for data in buffer:
            hookpoint, latent = data.module, data.latent.latent_index
            locations, acts = data.activation_data.locations, data.activation_data.activations
            want = expected[hookpoint].get(latent)
            if want is None:
                fail(f"{hookpoint} latent {latent}: in the export but never active in the bundle")
            got = [(int(r), int(c), np.float16(a)) for (r, c, _), a in zip(locations.tolist(), acts.numpy())]
            if [(r, c) for r, c, _ in got] != [(r, c) for r, c, _ in want]:
                fail(f"{hookpoint} latent {latent}: locations differ from the bundle's ({len(got)} vs {len(want)})")
            if any(g[2] != w[2] for g, w in zip(got, want)):
                fail(f"{hookpoint} latent {latent}: activations differ from the bundle's")
            if any(int(loc[2]) != latent for loc in locations):
                fail(f"{hookpoint} latent {latent}: a location names another latent")
            seen[hookpoint][latent] = data
            entries += len(got)
    for hookpoint in hookpoints:
        missing = set(expected[hookpoint]) - set(seen[hookpoint])
        if missing:
            fail(f"{hookpoint}: {len(missing)} latents active in the bundle are missing from the export, e.g. {sorted(missing)[:5]}")
    total = sum(len(v) for v in seen.values())
    print(f"3. every latent's activating examples equal the bundle's: {total} latents, {entries} (row, position, activation) entries: ok")

    # 4. The constructor and sampler for the latents with the most examples.
    built = 0
    for hookpoint in hookpoints:
        busiest = sorted(seen[hookpoint], key=lambda l: (-len(expected[hookpoint][l]), l))[:args.latents_checked]
        for latent in busiest:
            record = dataset._process_latent(seen[hookpoint][latent])
            if record is None:
                fail(f"{hookpoint} latent {latent}: delphi's constructor built no record")
            want = expected[hookpoint][latent]
            windows = defaultdict(list)
            for row, column, act in want:
                windows[(row * ctx_len + column) // EXAMPLE_CTX_LEN].append(float(act))
            if len(record.examples) != len(windows):
                fail(f"{hookpoint} latent {latent}: {len(record.examples)} examples, the bundle has {len(windows)} windows")
            flat = tokens.reshape(-1, EXAMPLE_CTX_LEN)
            maxima = sorted((max(v) for v in windows.values()), reverse=True)
            for example, maximum in zip(record.examples, maxima):
                window = [w for w, v in windows.items() if max(v) == maximum]
                if not any(torch.equal(example.tokens, flat[w]) for w in window):
                    fail(f"{hookpoint} latent {latent}: an example's tokens are no window of the bundle's rows")
                if float(example.activations.max()) != maximum:
                    fail(f"{hookpoint} latent {latent}: an example's maximum {float(example.activations.max())} is not {maximum}")
            built += 1
            top = record.examples[0]
            print(f"   {hookpoint} latent {latent}: {len(record.examples)} examples, max {record.max_activation:.4g}, "
                  f"train {len(record.train)}, test {len(record.test)}, non-activating {len(record.not_active)}; "
                  f"top example: {''.join(top.str_tokens or tokenizer.batch_decode(top.tokens))[:80]!r}")
    print(f"4. delphi's constructor and sampler built {built} records whose examples are the bundle's: ok")
    print("delphi verification: PASS")


if __name__ == "__main__":
    main()
