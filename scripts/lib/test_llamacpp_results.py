#!/usr/bin/env python3
"""Specification of llamacpp_results.py, on output captured from the pinned llama.cpp (llama-cpp-python
0.3.36's, built by scripts/bench-llamacpp) on this project's random-weight 1.5B-dimension model.

  python3 -m unittest scripts/lib/test_llamacpp_results.py     (standard library only)
"""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llamacpp_results  # noqa: E402

# `llama-batched-bench -m bf16.gguf -t 2 -c 64 -npp 8 -ntg 4 -npl 1,2 --output-format jsonl` (stdout and
# stderr together, as the bench scripts capture them).
BATCHED = """\
0.00.233.420 W load: control-looking token: 128247 '</s>' was not control-type; this is probably a bug in the model. its type will be overridden
0.00.387.568 W llama_context: n_ctx is not divisible by n_seq_max - rounding down to 512
{"n_kv_max": 512, "n_batch": 2048, "n_ubatch": 512, "flash_attn": -1, "is_pp_shared": 0, "n_gpu_layers": -1, "n_threads": 2, "n_threads_batch": 2, "pp": 8, "tg": 4, "pl": 1, "n_kv": 12, "t_pp": 1.073646, "speed_pp": 7.451246, "t_tg": 3.312409, "speed_tg": 1.207580, "t": 4.386055, "speed": 2.735944}
{"n_kv_max": 512, "n_batch": 2048, "n_ubatch": 512, "flash_attn": -1, "is_pp_shared": 0, "n_gpu_layers": -1, "n_threads": 2, "n_threads_batch": 2, "pp": 8, "tg": 4, "pl": 2, "n_kv": 24, "t_pp": 2.930443, "speed_pp": 5.459925, "t_tg": 5.733188, "speed_tg": 1.395384, "t": 8.663631, "speed": 2.770201}
"""

# `llama-bench -m f32.gguf -t 2 -p 100 -n 0 -r 3 -o jsonl` then `... -p 0 -n 64 -r 3 -o jsonl`, as
# scripts/bench-generate runs them (on a box at load average 5, hence the spread).
BENCH = """\
{"build_commit": "unknown", "build_number": 0, "cpu_info": "AMD EPYC", "gpu_info": "", "backends": "CPU", "model_filename": "/root/.cache/thinklens/llama.cpp-0.3.36/models/bench-1.5b-d438ea68/f32.gguf", "model_type": "qwen2 1.5B all F32", "model_size": 7108352000, "model_n_params": 1777088000, "n_batch": 2048, "n_ubatch": 512, "n_threads": 2, "cpu_mask": "0x0", "cpu_strict": false, "poll": 50, "type_k": "f16", "type_v": "f16", "n_gpu_layers": -1, "n_cpu_moe": 0, "split_mode": "layer", "main_gpu": 0, "no_kv_offload": false, "flash_attn": -1, "devices": "auto", "tensor_split": "0.00", "tensor_buft_overrides": "none", "load_mode": "auto", "lazy_mode": "auto", "embeddings": false, "no_op_offload": 0, "no_host": false, "repack": true, "fit_target": 0, "fit_min_ctx": 0, "n_prompt": 100, "n_gen": 0, "n_depth": 0, "test_time": "2026-12-07T03:33:09Z", "avg_ns": 6840138598, "stddev_ns": 683571813, "avg_ts": 14.712299, "stddev_ts": 1.391670, "samples_ns": [ 7627905535, 6403384882, 6489125378 ],"samples_ts": [ 13.1098, 15.6167, 15.4104 ]}
{"build_commit": "unknown", "build_number": 0, "cpu_info": "AMD EPYC", "gpu_info": "", "backends": "CPU", "model_filename": "/root/.cache/thinklens/llama.cpp-0.3.36/models/bench-1.5b-d438ea68/f32.gguf", "model_type": "qwen2 1.5B all F32", "model_size": 7108352000, "model_n_params": 1777088000, "n_batch": 2048, "n_ubatch": 512, "n_threads": 2, "cpu_mask": "0x0", "cpu_strict": false, "poll": 50, "type_k": "f16", "type_v": "f16", "n_gpu_layers": -1, "n_cpu_moe": 0, "split_mode": "layer", "main_gpu": 0, "no_kv_offload": false, "flash_attn": -1, "devices": "auto", "tensor_split": "0.00", "tensor_buft_overrides": "none", "load_mode": "auto", "lazy_mode": "auto", "embeddings": false, "no_op_offload": 0, "no_host": false, "repack": true, "fit_target": 0, "fit_min_ctx": 0, "n_prompt": 0, "n_gen": 64, "n_depth": 0, "test_time": "2026-12-07T03:33:39Z", "avg_ns": 72176511549, "stddev_ns": 2002654613, "avg_ts": 0.918934, "stddev_ts": 0.217022, "samples_ns": [ 55365355511, 87674607942, 73489571196 ],"samples_ts": [ 1.15596, 0.729972, 0.870872 ]}
"""


class LlamaCppResultsTests(unittest.TestCase):
    def write(self, text):
        handle = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
        handle.write(text)
        handle.close()
        self.addCleanup(os.unlink, handle.name)
        return handle.name

    def test_batched_reads_decode_speed_and_prefill_time_of_each_batch(self):
        result = llamacpp_results.batched(self.write(BATCHED), npp=8, ntg=4, npl=[1, 2])
        self.assertEqual(result["decode"], [
            {"batch": 1, "tokens_per_s": 1.207580, "prefill_s": 1.073646, "context_tokens": 12},
            {"batch": 2, "tokens_per_s": 1.395384, "prefill_s": 2.930443, "context_tokens": 24}])
        self.assertEqual((result["flash_attn"], result["n_kv_max"]), (-1, 512))

    def test_batched_names_a_batch_it_skipped_for_want_of_context(self):
        with self.assertRaises(llamacpp_results.FormatError) as caught:
            llamacpp_results.batched(self.write(BATCHED), npp=8, ntg=4, npl=[1, 4])
        self.assertIn("no row for batch 4 with a 8-token prompt and 4 new tokens", str(caught.exception))
        self.assertIn("n_kv_max 512", str(caught.exception))

    def test_batched_refuses_a_line_without_the_fields_it_reads(self):
        line = json.loads(BATCHED.splitlines()[2])
        del line["speed_tg"]
        path = self.write(json.dumps(line) + "\n")
        with self.assertRaises(llamacpp_results.FormatError) as caught:
            llamacpp_results.batched(path, npp=8, ntg=4, npl=[1])
        self.assertIn(f"{path}:1: llama-batched-bench's JSON line has no speed_tg", str(caught.exception))

    def test_batched_refuses_the_markdown_table(self):
        table = ("|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s |\n"
                 "|     8 |      4 |    1 |     12 |    1.074 |     7.45 |    3.312 |     1.21 |    4.386 |     2.74 |\n")
        with self.assertRaises(llamacpp_results.FormatError) as caught:
            llamacpp_results.batched(self.write(table), npp=8, ntg=4, npl=[1])
        self.assertIn("no JSON lines from llama-batched-bench", str(caught.exception))

    def test_batched_refuses_a_broken_json_line_naming_its_number(self):
        path = self.write(BATCHED.splitlines()[2][:80] + "\n")
        with self.assertRaises(llamacpp_results.FormatError) as caught:
            llamacpp_results.batched(path, npp=8, ntg=4, npl=[1])
        self.assertIn(f"{path}:1: a line from llama-batched-bench starts with '{{' but is not JSON", str(caught.exception))

    def test_bench_takes_the_fastest_prefill_repetition_and_the_mean_decode_speed(self):
        result = llamacpp_results.bench(self.write(BENCH), prefill=100, new_tokens=64)
        self.assertEqual(result, {"prefill_s": 6.403384882, "prefill_avg_s": 6.840138598,
                                  "decode_tokens_per_s": 0.918934, "decode_stddev_tokens_per_s": 0.217022})

    def test_bench_names_the_row_it_did_not_find(self):
        with self.assertRaises(llamacpp_results.FormatError) as caught:
            llamacpp_results.bench(self.write(BENCH), prefill=128, new_tokens=64)
        self.assertIn("llama-bench printed no prefill row (n_prompt 128, n_gen 0); it printed [(100, 0), (0, 64)]", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
