#!/usr/bin/env python3
"""Reads the JSON lines of llama.cpp's benchmarks and prints the figures the bench scripts compare.

  llamacpp_results.py bench FILE --prefill N --new-tokens T
      FILE: `llama-bench -p N -n 0` and `llama-bench -p 0 -n T`, both with `-o jsonl`.
      Prints {"prefill_s", "prefill_avg_s", "decode_tokens_per_s", "decode_stddev_tokens_per_s"}:
      the prefill as the fastest repetition (ThinkLens and transformers keep their best prefill
      trial too) and batch-1 decode as llama-bench's own mean.
  llamacpp_results.py batched FILE --npp N --ntg T --npl 1,8,...
      FILE: `llama-batched-bench ... --output-format jsonl`.
      Prints {"decode": [{"batch", "tokens_per_s", "prefill_s", "context_tokens"}], "flash_attn", "n_kv_max"}.

Log lines are skipped: a JSON line is one that starts with '{'. Every figure asked for must be
there; llama-batched-bench skips, without a word, a batch whose tokens do not fit its -c, so a
missing row is an error naming the batch. An output whose lines lack the fields read here (another
llama.cpp version) is an error naming the line and the missing field.
"""
import argparse
import json
import sys

BENCH_FIELDS = ("n_prompt", "n_gen", "avg_ns", "avg_ts", "stddev_ts", "samples_ns")
BATCHED_FIELDS = ("pp", "tg", "pl", "n_kv", "n_kv_max", "t_pp", "speed_tg", "flash_attn")


class FormatError(Exception):
    pass


def json_lines(path, tool, fields):
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise FormatError(f"{path}:{number}: a line from {tool} starts with '{{' but is not JSON ({error})")
            missing = [field for field in fields if field not in row]
            if missing:
                raise FormatError(f"{path}:{number}: {tool}'s JSON line has no {', '.join(missing)}; this is not the output "
                                  f"format scripts/lib/llamacpp_results.py reads (llama.cpp as pinned in scripts/bench-llamacpp)")
            rows.append(row)
    if not rows:
        raise FormatError(f"{path}: no JSON lines from {tool} (did it run with its JSON-lines output option? "
                          f"the end of its output is in that file)")
    return rows


def bench(path, prefill, new_tokens):
    rows = json_lines(path, "llama-bench", BENCH_FIELDS)
    def find(n_prompt, n_gen, what):
        match = [r for r in rows if r["n_prompt"] == n_prompt and r["n_gen"] == n_gen]
        if not match:
            raise FormatError(f"{path}: llama-bench printed no {what} row (n_prompt {n_prompt}, n_gen {n_gen}); "
                              f"it printed {[(r['n_prompt'], r['n_gen']) for r in rows]}")
        return match[-1]
    pp, tg = find(prefill, 0, "prefill"), find(0, new_tokens, "decode")
    if not pp["samples_ns"]:
        raise FormatError(f"{path}: llama-bench's prefill row has no samples_ns")
    return {"prefill_s": min(pp["samples_ns"]) / 1e9, "prefill_avg_s": pp["avg_ns"] / 1e9,
            "decode_tokens_per_s": tg["avg_ts"], "decode_stddev_tokens_per_s": tg["stddev_ts"]}


def batched(path, npp, ntg, npl):
    rows = json_lines(path, "llama-batched-bench", BATCHED_FIELDS)
    decode = []
    for batch in npl:
        match = [r for r in rows if (r["pp"], r["tg"], r["pl"]) == (npp, ntg, batch)]
        if not match:
            printed = sorted({(r["pp"], r["tg"], r["pl"]) for r in rows})
            raise FormatError(f"{path}: llama-batched-bench printed no row for batch {batch} with a {npp}-token prompt and {ntg} new "
                              f"tokens (its rows, as (prompt, new tokens, batch): {printed}). It skips, silently, a batch whose "
                              f"tokens exceed its context (n_kv_max {rows[0]['n_kv_max']}): give it a larger -c")
        row = match[-1]
        decode.append({"batch": batch, "tokens_per_s": row["speed_tg"], "prefill_s": row["t_pp"], "context_tokens": row["n_kv"]})
    return {"decode": decode, "flash_attn": rows[0]["flash_attn"], "n_kv_max": rows[0]["n_kv_max"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="tool", required=True)
    b = sub.add_parser("bench")
    b.add_argument("file")
    b.add_argument("--prefill", type=int, required=True)
    b.add_argument("--new-tokens", type=int, required=True)
    bb = sub.add_parser("batched")
    bb.add_argument("file")
    bb.add_argument("--npp", type=int, required=True)
    bb.add_argument("--ntg", type=int, required=True)
    bb.add_argument("--npl", required=True, help="comma-separated batch sizes")
    args = parser.parse_args()
    try:
        if args.tool == "bench":
            result = bench(args.file, args.prefill, args.new_tokens)
        else:
            result = batched(args.file, args.npp, args.ntg, [int(b) for b in args.npl.split(",")])
    except (FormatError, OSError) as error:
        print(f"llama.cpp's output could not be read: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
