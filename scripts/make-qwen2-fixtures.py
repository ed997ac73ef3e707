#!/usr/bin/env python3
"""Writes small random-weight Qwen2 models in Hugging Face format and their float32 reference
outputs from transformers, for the parity tests in Tests/ComputeTests (Qwen2ParityTests).

Needs torch + transformers + safetensors (a throwaway venv, never CI):
    /work/venv/bin/python scripts/make-qwen2-fixtures.py [--out Tests/Fixtures/qwen2]

Each model directory holds config.json, generation_config.json, the weights, and reference.safetensors:
  prompt_ids     int32 [prompt]              the prompt
  sequence_ids   int32 [prompt + generated]  prompt then 40 greedy tokens (argmax of full forwards)
  last_logits    f32   [vocab]               logits at the last prompt position
  <hookpoint>    f32   [prompt + generated, hidden] for every hookpoint over the whole sequence,
                 from one full forward of sequence_ids: hidden_states.N (output_hidden_states[N]),
                 layers.N (decoder layer N's output, forward hook), layers.N.mlp (MLP output, forward hook)
Weights in bf16/f16 are compared against transformers computing in float32 on those same weights.
"""
import argparse
import json
import os
import shutil

import torch
from safetensors.torch import save_file
from transformers import Qwen2Config, Qwen2ForCausalLM

GENERATED = 40

MODELS = [
    # name, dtype, tied, sharded, old-style config, dims
    dict(name="gqa2-untied-f32", dtype=torch.float32, tied=False, sharded=False, legacy=False,
         vocab=96, hidden=64, intermediate=128, layers=6, heads=4, kv_heads=2, theta=10000.0, prompt=13, seed=1),
    dict(name="gqa4-tied-bf16-sharded", dtype=torch.bfloat16, tied=True, sharded=True, legacy=True,
         vocab=80, hidden=64, intermediate=96, layers=6, heads=8, kv_heads=2, theta=1000000.0, prompt=17, seed=2),
    dict(name="gqa3-untied-f16-odd", dtype=torch.float16, tied=False, sharded=False, legacy=False,
         vocab=72, hidden=36, intermediate=52, layers=7, heads=6, kv_heads=2, theta=10000.0, prompt=11, seed=3),
]


def build(spec):
    torch.manual_seed(spec["seed"])
    config = Qwen2Config(
        vocab_size=spec["vocab"], hidden_size=spec["hidden"], intermediate_size=spec["intermediate"],
        num_hidden_layers=spec["layers"], num_attention_heads=spec["heads"], num_key_value_heads=spec["kv_heads"],
        max_position_embeddings=256, rms_norm_eps=1e-6, tie_word_embeddings=spec["tied"],
        rope_theta=spec["theta"], initializer_range=0.15, bos_token_id=1, eos_token_id=[2, 3],
    )
    config._attn_implementation = "eager"
    model = Qwen2ForCausalLM(config).eval()
    with torch.no_grad():
        # Non-trivial norms and biases so every parameter matters.
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.4 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.3 * torch.randn_like(p))
            elif "embed_tokens" in name:
                p.copy_(0.8 * torch.randn_like(p))
    return config, model.to(spec["dtype"])


def write_config(directory, spec, config):
    data = json.loads(config.to_json_string())
    if spec["legacy"]:
        # The transformers-4 layout DeepSeek-R1-Distill-Qwen ships: rope_theta at top level, rope_scaling null.
        params = data.pop("rope_parameters", None) or {}
        data["rope_theta"] = params.get("rope_theta", spec["theta"])
        data["rope_scaling"] = None
        data.pop("layer_types", None)
        data["torch_dtype"] = str(spec["dtype"]).replace("torch.", "")
        data["use_sliding_window"] = False
        data["sliding_window"] = 4096
    data["architectures"] = ["Qwen2ForCausalLM"]
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    generation = {"bos_token_id": 1, "eos_token_id": [2, 3] if spec["legacy"] else 2, "do_sample": True,
                  "temperature": 0.6, "top_p": 0.95}
    with open(os.path.join(directory, "generation_config.json"), "w") as f:
        json.dump(generation, f, indent=2, sort_keys=True)


def write_weights(directory, spec, model):
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    if spec["tied"]:
        tensors.pop("lm_head.weight", None)
    if not spec["sharded"]:
        save_file(tensors, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
        return
    names = sorted(tensors)
    half = len(names) // 2
    shards = [names[:half], names[half:]]
    weight_map = {}
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({n: tensors[n] for n in shard}, os.path.join(directory, file), metadata={"format": "pt"})
        weight_map.update({n: file for n in shard})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)


def reference(spec, directory):
    # Load what was written, as a user would: transformers widens bf16/f16 weights to float32 and
    # recomputes the rotary buffers in float32 (casting the in-memory model would round them).
    model = Qwen2ForCausalLM.from_pretrained(directory, dtype=torch.float32, attn_implementation="eager").eval()
    generator = torch.Generator().manual_seed(100 + spec["seed"])
    prompt = torch.randint(4, spec["vocab"], (spec["prompt"],), generator=generator)
    sequence = prompt.clone()
    margins = []
    with torch.no_grad():
        last_logits = model(sequence[None]).logits[0, -1].clone()
        for _ in range(GENERATED):
            logits = model(sequence[None]).logits[0, -1]
            top = torch.topk(logits, 2).values
            margins.append(float(top[0] - top[1]))
            sequence = torch.cat([sequence, logits.argmax()[None]])

        captured = {}
        hooks = []
        for i, layer in enumerate(model.model.layers):
            hooks.append(layer.mlp.register_forward_hook(
                lambda m, a, out, i=i: captured.__setitem__(f"layers.{i}.mlp", out[0].clone())))
            hooks.append(layer.register_forward_hook(
                lambda m, a, out, i=i: captured.__setitem__(f"layers.{i}", (out[0] if isinstance(out, tuple) else out)[0].clone())))
        outputs = model(sequence[None], output_hidden_states=True)
        for h in hooks:
            h.remove()
    for n, state in enumerate(outputs.hidden_states):
        captured[f"hidden_states.{n}"] = state[0].clone()
    tensors = {k: v.float().contiguous() for k, v in captured.items()}
    tensors["prompt_ids"] = prompt.to(torch.int32)
    tensors["sequence_ids"] = sequence.to(torch.int32)
    tensors["last_logits"] = last_logits.float()
    print(f"{spec['name']}: smallest greedy top-1/top-2 logit margin {min(margins):.4g}")
    return tensors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "qwen2"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    for spec in MODELS:
        directory = os.path.join(args.out, spec["name"])
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        config, model = build(spec)
        write_config(directory, spec, config)
        write_weights(directory, spec, model)
        save_file(reference(spec, directory), os.path.join(directory, "reference.safetensors"))
    print("wrote", os.path.abspath(args.out))


if __name__ == "__main__":
    main()
