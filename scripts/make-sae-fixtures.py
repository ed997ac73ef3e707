#!/usr/bin/env python3
"""Make the SAE parity fixtures in Tests/Fixtures/sae/ with EleutherAI's own sparsify.

Never run in CI. Needs torch and sparsify (PyPI `eai-sparsify`, tested with 1.3.3) in a
throwaway venv. sparsify's package __init__ imports its trainer (datasets, wandb...), so
`pip install --no-deps eai-sparsify einops natsort simple-parsing accelerate` is enough if
this script loads `sparsify.sparse_coder` without running that __init__ (done below).

Every case is written by `SparseCoder.save_to_disk` and read back with
`SparseCoder.load_from_disk`, so the files are the real format, and the references come
from sparsify's `encode` / `forward`:

    <case>/layers.3.mlp/{cfg.json,sae.safetensors}
    <case>/reference.safetensors
        x          [T, d_in]  F32  inputs
        indices    [T, k]     I32  top-k latents, by activation descending, ties to the lower index
        acts       [T, k]     F32  their activations
        positives  [T]        I32  how many of the k are > 0
        fvu        [1]        F32  sparsify forward(x).fvu over the batch
    (f32 also has x_far / fvu_far: inputs the SAE does not fit; bf16 also has
     native_indices / native_acts: sparsify computing in bf16 itself.)

torch.topk(sorted=False) leaves the choice among equal values open, so the reference
indices apply the documented rule (ties to the lower index) to sparsify's own pre_acts;
the script checks that sparsify's top-k values agree with them on every row.

    /work/venv/bin/python scripts/make-sae-fixtures.py
"""
import importlib.util
import json
import os
import sys
import types

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")  # sparsify wraps its encoder in torch.compile
os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")  # its Triton decoder needs a GPU; use the eager one

import torch
from safetensors.torch import save_file

spec = importlib.util.find_spec("sparsify")
if spec is None:
    sys.exit("sparsify is not installed: pip install --no-deps eai-sparsify einops natsort simple-parsing accelerate")
package = types.ModuleType("sparsify")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["sparsify"] = package
from sparsify.config import SparseCoderConfig  # noqa: E402
from sparsify.sparse_coder import SparseCoder  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "sae")
HOOKPOINT = "layers.3.mlp"
D_IN = 64
ROWS = 24


def make_weights(gen, d_in, num_latents, dtype):
    """Trained-looking weights: unit-norm decoder rows, encoder tied to them plus noise."""
    w_dec = torch.randn(num_latents, d_in, generator=gen)
    w_dec /= w_dec.norm(dim=1, keepdim=True)
    encoder = w_dec + 0.3 / d_in ** 0.5 * torch.randn(num_latents, d_in, generator=gen)
    bias = -0.05 - 0.05 * torch.randn(num_latents, generator=gen).abs()
    b_dec = 0.2 * torch.randn(d_in, generator=gen)
    return w_dec.to(dtype), encoder.to(dtype), bias.to(dtype), b_dec.to(dtype)


def fitting_inputs(gen, dictionary, b_dec, rows, per_row):
    """Activations an SAE can fit: a few dictionary directions each, plus noise."""
    chosen = torch.randint(0, dictionary.shape[0], (rows, per_row), generator=gen)
    weights = 0.5 + 2.0 * torch.randn(rows, per_row, generator=gen).abs()
    x = (weights[..., None] * dictionary[chosen]).sum(1) + b_dec
    return x + 0.05 * torch.randn(rows, dictionary.shape[1], generator=gen)


def build(case, cfg, dtype, seed, per_row, customise=None, train_steps=250):
    """An SAE briefly trained with sparsify's own loss (forward(x).fvu) on inputs drawn from
    a hidden dictionary, so its fit is realistic; then saved in `dtype` and loaded back.
    Returns the loaded SAE, the generator, and a sampler of more such inputs."""
    gen = torch.Generator().manual_seed(seed)
    sae = SparseCoder(D_IN, cfg, dtype=torch.float32)
    w_dec, encoder, bias, b_dec = make_weights(gen, D_IN, sae.num_latents, torch.float32)
    dictionary = w_dec[torch.randperm(sae.num_latents, generator=gen)[: sae.num_latents // 4]].clone()
    with torch.no_grad():
        sae.W_dec.copy_(w_dec)
        sae.encoder.weight.copy_(encoder)
        sae.encoder.bias.copy_(bias)
        sae.b_dec.copy_(b_dec)
        if sae.W_skip is not None:
            sae.W_skip.copy_(0.05 * torch.randn(D_IN, D_IN, generator=gen))
    sample = lambda rows: fitting_inputs(gen, dictionary, b_dec, rows, per_row)  # noqa: E731
    optimiser = torch.optim.Adam(sae.parameters(), lr=2e-3)
    for _ in range(train_steps):
        loss = sae(sample(256)).fvu
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            sae.set_decoder_norm_to_unit_norm()
    with torch.no_grad():
        if customise:
            customise(sae, gen)
    sae = sae.to(dtype)
    folder = os.path.join(ROOT, case, HOOKPOINT)
    sae.save_to_disk(folder)
    return SparseCoder.load_from_disk(folder), gen, sample


def ordered_topk(pre_acts, k, activation):
    """The documented selection applied to sparsify's pre_acts: by value descending, ties to
    the lower index (groupmax: each group's first maximum, then the same ordering)."""
    rows, n = pre_acts.shape
    indices = torch.empty(rows, k, dtype=torch.int64)
    for r in range(rows):
        values = pre_acts[r].double()
        if activation == "topk":
            chosen = sorted(range(n), key=lambda i: (-values[i].item(), i))[:k]
        else:
            size = n // k
            chosen = [g * size + int(torch.argmax(values[g * size:(g + 1) * size])) for g in range(k)]
            chosen.sort(key=lambda i: (-values[i].item(), i))
        indices[r] = torch.tensor(chosen)
    return indices, torch.gather(pre_acts, 1, indices)


def reference(sae, x):
    """sparsify's encode and forward on x, with the ordered indices and the FVU."""
    with torch.no_grad():
        x = x.to(sae.dtype)
        top_acts, top_indices, pre_acts = sae.encode(x)
        indices, acts = ordered_topk(pre_acts.float(), sae.cfg.k, sae.cfg.activation)
        # sparsify's own choice must carry the same values, row by row.
        theirs = top_acts.float().sort(dim=1, descending=True).values
        assert torch.equal(theirs, acts), "sparsify's top-k values differ from the ordered selection"
        positives = (acts > 0).sum(1).to(torch.int32)
        fvu = sae(x).fvu.float().reshape(1)
    return indices.to(torch.int32), acts.float().contiguous(), positives, fvu, pre_acts.float()


def clear_rows(sae, x, rows, allow_ties=False):
    """The first `rows` rows whose k-th and (k+1)-th pre-activations are far enough apart
    (relative gap >= 1e-4) that float32 rounding cannot swap them; exact ties pass when
    allowed, since the tie rule decides those."""
    k = sae.cfg.k
    with torch.no_grad():
        pre = sae.encode(x.to(sae.dtype)).pre_acts.double()
    top = pre.topk(k + 1, dim=1).values
    gap = (top[:, k - 1] - top[:, k]) / top[:, k - 1].abs().clamp(min=1e-6)
    tight = (top[:, k] > 0) & (gap < 1e-4) & ~((gap == 0) if allow_ties else torch.zeros_like(gap, dtype=torch.bool))
    keep = x[~tight][:rows]
    assert keep.shape[0] == rows, "too few rows with a clear k-th gap; sample more"
    return keep


def save_reference(case, tensors):
    save_file({name: t.contiguous() for name, t in tensors.items()}, os.path.join(ROOT, case, "reference.safetensors"))
    print(f"{case}: " + ", ".join(f"{n} {list(t.shape)}" for n, t in tensors.items()))


def make_f32():
    cfg = SparseCoderConfig(num_latents=1024, k=16)
    sae, gen, sample = build("f32", cfg, torch.float32, seed=1, per_row=4)
    x = clear_rows(sae, sample(2 * ROWS), ROWS)
    indices, acts, positives, fvu, _ = reference(sae, x)
    # Inputs the SAE does not fit: unrelated directions at a different scale.
    x_far = 3.0 * torch.randn(ROWS, D_IN, generator=gen) + 1.0
    _, _, _, fvu_far, _ = reference(sae, x_far)
    assert fvu.item() < 0.5 < fvu_far.item(), (fvu, fvu_far)
    save_reference("f32", dict(x=x, indices=indices, acts=acts, positives=positives, fvu=fvu, x_far=x_far, fvu_far=fvu_far))


def make_bf16():
    # num_latents 0: sparsify takes d_in * expansion_factor = 1024.
    cfg = SparseCoderConfig(num_latents=0, expansion_factor=16, k=32)
    sae, gen, sample = build("bf16-expansion", cfg, torch.bfloat16, seed=2, per_row=6)
    # What ThinkLens computes: bf16 weights widened exactly, float32 arithmetic.
    wide = SparseCoder.load_from_disk(os.path.join(ROOT, "bf16-expansion", HOOKPOINT)).float()
    x = clear_rows(wide, sample(2 * ROWS), ROWS)
    indices, acts, positives, fvu, _ = reference(wide, x)
    # sparsify computing in bf16 itself, for comparison only.
    native_indices, native_acts, _, _, _ = reference(sae, x)
    save_reference("bf16-expansion", dict(x=x, indices=indices, acts=acts, positives=positives, fvu=fvu,
                                          native_indices=native_indices, native_acts=native_acts))


def make_ties():
    """Duplicated latents (exact ties) and rows with fewer than k positive latents."""
    cfg = SparseCoderConfig(num_latents=512, k=32)

    def customise(sae, gen):
        w, b = sae.encoder.weight, sae.encoder.bias
        w[256:] = w[:256]                 # latent i + 256 duplicates latent i exactly
        b[:] = -0.6                       # most latents need a strong input to fire
        b[[3, 40, 77]] = 0.25             # three fire even on x == b_dec
        b[256:] = b[:256]

    sae, gen, sample = build("ties", cfg, torch.float32, seed=3, per_row=4, customise=customise)
    x = clear_rows(sae, sample(2 * ROWS), ROWS, allow_ties=True)
    x[0] = sae.b_dec.detach()             # exactly 6 positives: three latents and their copies
    x[1] = sae.b_dec.detach() + 0.01 * torch.randn(D_IN, generator=gen)
    x[2] = sae.b_dec.detach() + 0.5 * sae.W_dec.detach()[10]
    x = torch.cat([x[:3], clear_rows(sae, x[3:], ROWS - 3, allow_ties=True)])
    indices, acts, positives, fvu, _ = reference(sae, x)
    assert positives[0].item() == 6 and (positives < sae.cfg.k).sum() >= 3, positives
    save_reference("ties", dict(x=x, indices=indices, acts=acts, positives=positives, fvu=fvu))


def make_groupmax():
    cfg = SparseCoderConfig(num_latents=512, k=8, activation="groupmax")
    sae, gen, sample = build("groupmax", cfg, torch.float32, seed=4, per_row=3)
    x = sample(ROWS)
    indices, acts, positives, fvu, _ = reference(sae, x)
    save_reference("groupmax", dict(x=x, indices=indices, acts=acts, positives=positives, fvu=fvu))


def make_skip():
    cfg = SparseCoderConfig(num_latents=256, k=8, skip_connection=True)
    sae, gen, sample = build("skip", cfg, torch.float32, seed=5, per_row=3)
    x = clear_rows(sae, sample(2 * ROWS), ROWS)
    indices, acts, positives, fvu, _ = reference(sae, x)
    save_reference("skip", dict(x=x, indices=indices, acts=acts, positives=positives, fvu=fvu))


if __name__ == "__main__":
    torch.manual_seed(0)
    make_f32()
    make_bf16()
    make_ties()
    make_groupmax()
    make_skip()
    with open(os.path.join(ROOT, "README.md"), "w") as f:
        f.write("Generated by scripts/make-sae-fixtures.py with sparsify "
                f"(eai-sparsify) and torch {torch.__version__}; do not edit by hand.\n")
