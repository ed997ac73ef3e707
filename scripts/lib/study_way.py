"""The original study's way, as the end-to-end benchmark's peer: transformers `generate` with
output_hidden_states, one problem at a time, then torch SAE encoding (relu(x @ W.T + b) then
topk) of the hidden states at the chosen layers. Prints one JSON line with tokens/s.

usage: study_way.py MODEL_DIR SAE_DIR PROMPTS.jsonl DTYPE(float32|bfloat16) NEW_TOKENS LAYERS THREADS
PROMPTS.jsonl holds one JSON array of prompt token ids per line (from `thinklens tokenize --chat`).
"""
import json
import sys
import time

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

model_dir, sae_dir, prompts_path, dtype_name, new_tokens, layers, threads = sys.argv[1:8]
torch.set_num_threads(int(threads))
dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype_name]
new_tokens = int(new_tokens)
layers = [int(x) for x in layers.split(",")]

model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=dtype)
model.eval()
saes = {}
for layer in layers:
    t = load_file(f"{sae_dir}/layers.{layer}.mlp/sae.safetensors")
    saes[layer] = (t["encoder.weight"].to(dtype), t["encoder.bias"].to(dtype), t["b_dec"].to(dtype))
prompts = [json.loads(line) for line in open(prompts_path) if line.strip()]

generated = 0
start = time.perf_counter()
with torch.inference_mode():
    for ids in prompts:
        out = model.generate(torch.tensor([ids]), do_sample=True, temperature=0.6, top_p=0.95,
                             max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             output_hidden_states=True, return_dict_in_generate=True)
        steps = out.hidden_states  # per step: a tuple of [1, positions, hidden] per layer
        for layer in layers:
            w, b, b_dec = saes[layer]
            x = torch.cat([s[layer + 1][0] for s in steps], dim=0)
            torch.topk(torch.relu((x - b_dec) @ w.T + b), 32, dim=-1)
        generated += out.sequences.shape[1] - len(ids)
seconds = time.perf_counter() - start
print(json.dumps({"dtype": dtype_name, "problems": len(prompts), "tokens": generated,
                  "seconds": seconds, "tokens_per_second": generated / seconds}))
