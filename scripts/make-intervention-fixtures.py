#!/usr/bin/env python3
"""Make the feature-edit parity fixtures in Tests/Fixtures/interventions/ with transformers and
EleutherAI's sparsify, for Tests/ComputeTests/FeatureEditParityTests.swift.

Never run in CI. Needs torch, transformers, safetensors and sparsify (PyPI `eai-sparsify`) in a
throwaway venv outside the repo, e.g.
    python3 -m venv /work/venvs/interventions
    /work/venvs/interventions/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
    /work/venvs/interventions/bin/pip install transformers safetensors
    /work/venvs/interventions/bin/pip install --no-deps eai-sparsify einops natsort simple-parsing accelerate
    /work/venvs/interventions/bin/python scripts/make-intervention-fixtures.py

The model is the committed Tests/Fixtures/qwen2/gqa2-untied-f32 (6 layers, hidden 64). Two small
sparsify SAEs are made here and saved with `SparseCoder.save_to_disk`, one on an MLP output and
one on a residual stream, so edits at two layers and of both hookpoint kinds are covered:

    sae/layers.1.mlp/{cfg.json,sae.safetensors}
    sae/layers.3/{cfg.json,sae.safetensors}

An edit is implemented independently of ThinkLens, as a transformers forward hook on the module
whose output the hookpoint names (`model.layers[N].mlp` for layers.N.mlp, the decoder layer for
layers.N): the output x is encoded with sparsify's own `SparseCoder.encode` (ReLU, top-k);
c = the feature's value in the top-k (0 when absent); v from the operation; and
x' = x + (v - c) * W_dec[f] in float32, several edits of one hookpoint sharing one encoding
and adding their deltas in the order written. `@generated` edits apply only at positions whose
input is a generated token (position >= prompt length). Greedy decoding recomputes the whole
sequence each step with the hooks on, which is what incremental decoding with per-position edits
computes.

    cases.json               [{"name": ..., "edits": "HOOKPOINT:FEATURE:OP+..."}], baseline first
    reference.safetensors
        prompt_ids                  int32 [prompt]
        <case>.sequence_ids         int32 [prompt + GENERATED]   prompt then greedy tokens under the edits
        <case>.hidden_states.6      f32   [prompt + GENERATED, 64] final-normed output at every position
        <case>.<hookpoint>          f32   [prompt + GENERATED, 64] x' at each edited hookpoint
        (all from one full forward of <case>.sequence_ids with the case's hooks on)

The prompt is chosen (by seed) so that every greedy step's top-1/top-2 logit margin and every
edited position's top-k boundary are clear of float32 rounding, and every edited case's tokens
differ from the baseline's.
"""
import importlib.util
import json
import os
import shutil
import sys
import types

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")  # sparsify wraps its encoder in torch.compile
os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")

import torch
from safetensors.torch import save_file
from transformers import Qwen2ForCausalLM

spec = importlib.util.find_spec("sparsify")
if spec is None:
    sys.exit("sparsify is not installed: pip install --no-deps eai-sparsify einops natsort simple-parsing accelerate")
# sparsify's package __init__ imports its trainer (datasets, wandb...): load only the coder.
package = types.ModuleType("sparsify")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["sparsify"] = package
from sparsify.config import SparseCoderConfig  # noqa: E402
from sparsify.sparse_coder import SparseCoder  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "Tests", "Fixtures", "qwen2", "gqa2-untied-f32")
OUT = os.path.join(HERE, "..", "Tests", "Fixtures", "interventions")
HOOKPOINTS = ["layers.1.mlp", "layers.3"]
PROMPT = 11
GENERATED = 16
MIN_MARGIN = 2e-3       # smallest allowed greedy top-1/top-2 logit gap
MIN_BOUNDARY = 1e-3     # smallest allowed gap between an edited feature's pre-activation and the top-k threshold


def load_model():
    return Qwen2ForCausalLM.from_pretrained(MODEL, dtype=torch.float32, attn_implementation="eager").eval()


def module_for(model, hookpoint):
    parts = hookpoint.split(".")
    layer = model.model.layers[int(parts[1])]
    return layer.mlp if len(parts) == 3 else layer


def unwrap(out):
    return out[0] if isinstance(out, tuple) else out


def rewrap(out, new):
    return (new,) + tuple(out[1:]) if isinstance(out, tuple) else new


def capture_all(model, sequence):
    """Every hookpoint's output over one full forward of `sequence` (no edits)."""
    captured, hooks = {}, []
    for h in HOOKPOINTS:
        hooks.append(module_for(model, h).register_forward_hook(
            lambda m, a, out, h=h: captured.__setitem__(h, unwrap(out)[0].detach().clone())))
    with torch.no_grad():
        model(sequence[None])
    for hook in hooks:
        hook.remove()
    return captured


def make_sae(hookpoint, activations, seed):
    """A sparsify SAE whose decoder directions lie near the activations' own, so features fire."""
    gen = torch.Generator().manual_seed(seed)
    d_in = activations.shape[1]
    sae = SparseCoder(d_in, SparseCoderConfig(num_latents=128, k=8), dtype=torch.float32)
    mean = activations.mean(0)
    centred = activations - mean
    # Half the directions from the centred activations themselves, half random.
    picks = centred[torch.randint(0, centred.shape[0], (64,), generator=gen)]
    directions = torch.cat([picks + 0.3 * centred.norm(dim=1).mean() / d_in ** 0.5 * torch.randn(64, d_in, generator=gen),
                            torch.randn(64, d_in, generator=gen)])
    directions /= directions.norm(dim=1, keepdim=True)
    with torch.no_grad():
        sae.W_dec.copy_(directions)
        sae.encoder.weight.copy_(directions + 0.2 / d_in ** 0.5 * torch.randn(128, d_in, generator=gen))
        sae.encoder.bias.copy_(-0.05 * torch.rand(128, generator=gen))
        sae.b_dec.copy_(mean)
    folder = os.path.join(OUT, "sae", hookpoint)
    sae.save_to_disk(folder)
    return SparseCoder.load_from_disk(folder)


def parse_edit(text):
    generated = text.endswith("@generated")
    if generated:
        text = text[: -len("@generated")]
    hookpoint, feature, op = text.split(":")
    name, _, value = op.partition("=")
    return dict(hookpoint=hookpoint, feature=int(feature), op=name, value=float(value) if value else None, generated=generated)


def new_value(edit, c):
    if edit["op"] == "ablate":
        return torch.zeros_like(c)
    if edit["op"] == "clamp":
        return torch.full_like(c, edit["value"])
    if edit["op"] == "scale":
        return torch.tensor(edit["value"], dtype=torch.float32) * c
    if edit["op"] == "add":
        return c + torch.tensor(edit["value"], dtype=torch.float32)
    raise ValueError(edit)


class Edits:
    """The forward hooks that apply one case's edits, and the closeness checks on what they saw."""

    def __init__(self, model, saes, edits, prompt_length):
        self.edits = [parse_edit(e) for e in edits]
        self.saes = saes
        self.prompt_length = prompt_length
        self.boundary = float("inf")
        self.hooks = []
        for hookpoint in dict.fromkeys(e["hookpoint"] for e in self.edits):
            mine = [e for e in self.edits if e["hookpoint"] == hookpoint]
            self.hooks.append(module_for(model, hookpoint).register_forward_hook(
                lambda m, a, out, h=hookpoint, mine=mine: rewrap(out, self.apply(h, mine, unwrap(out)))))

    def apply(self, hookpoint, edits, out):
        sae = self.saes[hookpoint]
        x = out[0]                                    # [T, d_in]
        encoded = sae.encode(x)
        k = sae.cfg.k
        kth = encoded.pre_acts.topk(k + 1, dim=1).values
        threshold = (kth[:, k - 1] + kth[:, k]) / 2
        new = x.clone()
        positions = torch.arange(x.shape[0])
        for e in edits:
            active = positions >= self.prompt_length if e["generated"] else torch.ones_like(positions, dtype=torch.bool)
            f = e["feature"]
            c = (encoded.top_acts * (encoded.top_indices == f)).sum(1)          # [T]; at most one match
            delta = torch.where(active, new_value(e, c) - c, torch.zeros_like(c))
            new = new + delta[:, None] * sae.W_dec[f][None, :]
            pre = encoded.pre_acts[:, f]
            gap = (pre - threshold).abs()[active & (pre > 0)]
            if gap.numel():
                self.boundary = min(self.boundary, float(gap.min()))
        return new[None]

    def remove(self):
        for hook in self.hooks:
            hook.remove()


def run_case(model, saes, edits, prompt):
    """Greedy tokens under the edits, the smallest margins seen, and the final forward's captures."""
    hooks = Edits(model, saes, edits, len(prompt))
    sequence = prompt.clone()
    margin = float("inf")
    with torch.no_grad():
        for _ in range(GENERATED):
            logits = model(sequence[None]).logits[0, -1]
            top = torch.topk(logits, 2).values
            margin = min(margin, float(top[0] - top[1]))
            sequence = torch.cat([sequence, logits.argmax()[None]])
        captured = {}
        taps = [module_for(model, h).register_forward_hook(
            lambda m, a, out, h=h: captured.__setitem__(h, unwrap(out)[0].detach().clone())) for h in HOOKPOINTS]
        outputs = model(sequence[None], output_hidden_states=True)
        for tap in taps:
            tap.remove()
    hooks.remove()
    captured["hidden_states.6"] = outputs.hidden_states[-1][0].clone()
    return sequence, margin, hooks.boundary, captured


def cases(saes, baseline_latents):
    """Edits on features that fire often in the baseline (so each edit changes something)."""
    def frequent(hookpoint, rank):
        counts = torch.bincount(baseline_latents[hookpoint].top_indices.flatten(), minlength=128)
        return int(counts.argsort(descending=True)[rank])

    def strongest(hookpoint, feature):
        latents = baseline_latents[hookpoint]
        return float((latents.top_acts * (latents.top_indices == feature)).max())

    f1, f3 = frequent("layers.1.mlp", 0), frequent("layers.1.mlp", 1)
    f2 = frequent("layers.3", 0)
    clamp = round(4 * strongest("layers.1.mlp", f1), 2)
    add = round(3 * strongest("layers.3", f2), 2)
    return [
        dict(name="baseline", edits=""),
        dict(name="ablate", edits=f"layers.1.mlp:{f1}:ablate"),
        dict(name="clamp", edits=f"layers.1.mlp:{f1}:clamp={clamp}"),
        dict(name="scale", edits=f"layers.1.mlp:{f1}:scale=-3"),
        dict(name="add", edits=f"layers.3:{f2}:add={add}"),
        dict(name="multi", edits=f"layers.1.mlp:{f1}:clamp={clamp}+layers.1.mlp:{f3}:ablate+layers.3:{f2}:scale=3"),
        dict(name="generated", edits=f"layers.1.mlp:{f1}:clamp={clamp}@generated"),
    ]


def attempt(model, seed):
    generator = torch.Generator().manual_seed(seed)
    prompt = torch.randint(4, model.config.vocab_size, (PROMPT,), generator=generator)
    # SAEs fitted to this model's activations over a longer stretch of random tokens.
    warmup = torch.randint(4, model.config.vocab_size, (96,), generator=torch.Generator().manual_seed(7))
    activations = capture_all(model, warmup)
    saes = {h: make_sae(h, activations[h], seed=11 + i) for i, h in enumerate(HOOKPOINTS)}
    base_sequence, _, _, _ = run_case(model, saes, [], prompt)
    base_captures = capture_all(model, base_sequence)
    with torch.no_grad():
        latents = {h: saes[h].encode(base_captures[h]) for h in HOOKPOINTS}
    chosen = cases(saes, latents)
    results, worst_margin, worst_boundary = {}, float("inf"), float("inf")
    for case in chosen:
        edits = case["edits"].split("+") if case["edits"] else []
        sequence, margin, boundary, captured = run_case(model, saes, edits, prompt)
        results[case["name"]] = (sequence, captured, edits)
        worst_margin = min(worst_margin, margin)
        worst_boundary = min(worst_boundary, boundary)
    baseline = results["baseline"][0]
    unchanged = [n for n, (s, _, _) in results.items() if n != "baseline" and torch.equal(s, baseline)]
    return prompt, chosen, results, worst_margin, worst_boundary, unchanged


def main():
    torch.set_num_threads(1)
    model = load_model()
    for seed in range(100, 200):
        shutil.rmtree(OUT, ignore_errors=True)
        os.makedirs(OUT)
        prompt, chosen, results, margin, boundary, unchanged = attempt(model, seed)
        print(f"prompt seed {seed}: smallest margin {margin:.4g}, smallest top-k boundary gap {boundary:.4g}, "
              f"cases with the baseline's tokens {unchanged}")
        if margin >= MIN_MARGIN and boundary >= MIN_BOUNDARY and not unchanged:
            break
    else:
        sys.exit("no prompt seed gave clear margins and changed outputs")
    tensors = {"prompt_ids": prompt.to(torch.int32)}
    for name, (sequence, captured, edits) in results.items():
        tensors[f"{name}.sequence_ids"] = sequence.to(torch.int32)
        tensors[f"{name}.hidden_states.6"] = captured["hidden_states.6"].float()
        for hookpoint in dict.fromkeys(e.split(":")[0] for e in edits):
            tensors[f"{name}.{hookpoint}"] = captured[hookpoint].float()
        print(f"{name:10s} {chosen[[c['name'] for c in chosen].index(name)]['edits']:60s} "
              f"generated {sequence[len(prompt):].tolist()}")
    save_file({n: t.contiguous() for n, t in tensors.items()}, os.path.join(OUT, "reference.safetensors"))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(chosen, f, indent=2)
        f.write("\n")
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(f"Generated by scripts/make-intervention-fixtures.py with transformers and sparsify (eai-sparsify), "
                f"torch {torch.__version__}; do not edit by hand.\n")
    print("wrote", os.path.abspath(OUT))


if __name__ == "__main__":
    main()
