# llama.cpp beside ThinkLens, for scripts/bench-generate and scripts/bench-context: finds the build
# and GGUF files of scripts/bench-llamacpp (or, with BENCH_LLAMACPP=1, makes them) and runs
# llama-bench and llama-batched-bench with their JSON-lines output, read by llamacpp_results.py.

LLAMACPP_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# llama.cpp's CPU threads meet at a barrier after every operation, through OpenMP (libgomp) in this
# build. libgomp's default is to spin at a barrier before sleeping: when another tenant holds one
# of the 2 cores, the thread that arrived first spins through its time slice while the other waits
# for the core, and a decode step takes several times longer (measured here at load average 2 to 4:
# bf16 batch-1 decode 1.6 and 2.7 tok/s spinning, 8.0 and 11.5 tok/s with PASSIVE, alternating).
# PASSIVE makes a waiting thread sleep, which on a shared box is llama.cpp's best. On a quiet box
# spinning can be faster (load 0.4 to 0.8: 14.7 and 20.2 tok/s spinning, 14.8 twice with PASSIVE),
# so for a quiet-box comparison set BENCH_LLAMACPP_OMP_WAIT_POLICY= (empty: libgomp's default).
LLAMACPP_OMP_WAIT_POLICY=${BENCH_LLAMACPP_OMP_WAIT_POLICY-PASSIVE}
llamacpp_run() {
    if [ -n "$LLAMACPP_OMP_WAIT_POLICY" ]; then OMP_WAIT_POLICY=$LLAMACPP_OMP_WAIT_POLICY "$@"; else "$@"; fi
}

# llamacpp_locate MODEL_DIR: sets LLAMA_BENCH, LLAMA_BATCHED_BENCH, LLAMACPP_GGUF_F32,
# LLAMACPP_GGUF_BF16, LLAMACPP_VERSION, LLAMACPP_COMMIT and returns 0 when llama.cpp is ready
# for this model.
# Without BENCH_LLAMACPP=1 it only looks, and returns 1 after saying why there are no llama.cpp
# columns. With it, a failed build or conversion returns 2: the caller stops, as asked.
llamacpp_locate() {
    local paths key value
    if [ "${BENCH_LLAMACPP:-0}" = 1 ]; then
        paths=$("$LLAMACPP_LIB_DIR/../bench-llamacpp" "$1") || return 2
    elif ! paths=$("$LLAMACPP_LIB_DIR/../bench-llamacpp" --present-only "$1" 2>&1); then
        echo "== no llama.cpp columns: ${paths#bench-llamacpp: }" >&2
        return 1
    fi
    while IFS='=' read -r key value; do
        case "$key" in
            LLAMACPP_VERSION | LLAMACPP_COMMIT | LLAMACPP_DIR | LLAMA_BENCH | LLAMA_BATCHED_BENCH | LLAMACPP_GGUF_F32 | LLAMACPP_GGUF_BF16)
                printf -v "$key" '%s' "$value" ;;
        esac
    done <<<"$paths"
}

# llamacpp_bench GGUF THREADS PREFILL NEW_TOKENS LOG: llama-bench's prefill of PREFILL tokens and
# batch-1 decode of NEW_TOKENS tokens (3 repetitions each, after its warm-up run); prints
# llamacpp_results.py's JSON line. The tools' whole output stays in LOG.
llamacpp_bench() {
    local gguf=$1 threads=$2 prefill=$3 new_tokens=$4 log=$5
    llamacpp_run "$LLAMA_BENCH" -m "$gguf" -t "$threads" -p "$prefill" -n 0 -r "${BENCH_LLAMACPP_REPETITIONS:-3}" -o jsonl >"$log" 2>&1 &&
        llamacpp_run "$LLAMA_BENCH" -m "$gguf" -t "$threads" -p 0 -n "$new_tokens" -r "${BENCH_LLAMACPP_REPETITIONS:-3}" -o jsonl >>"$log" 2>&1 ||
        { tail -n 20 "$log" >&2; echo "llama-bench failed on $gguf (its output: $log)" >&2; return 1; }
    python3 "$LLAMACPP_LIB_DIR/llamacpp_results.py" bench "$log" --prefill "$prefill" --new-tokens "$new_tokens"
}

# llamacpp_batched GGUF THREADS PROMPT NEW_TOKENS BATCHES SHARED LOG: llama-batched-bench's decode
# of NEW_TOKENS tokens per sequence after a PROMPT-token prompt, at each of BATCHES (comma-separated)
# parallel sequences. SHARED=1 prefills the prompt once and copies it to every sequence's own KV
# cache (-pps; the sequences' caches stay apart, as ThinkLens's slots do), SHARED=0 prefills a
# prompt per sequence. The context (-c) holds the largest batch with 16 positions to spare per
# sequence (its warm-up decodes 16 tokens), a multiple of the batch (llama.cpp rounds -c down to one).
# Prints llamacpp_results.py's JSON.
llamacpp_batched() {
    local gguf=$1 threads=$2 prompt=$3 new_tokens=$4 batches=$5 shared=$6 log=$7
    local largest
    largest=$(tr ',' '\n' <<<"$batches" | sort -n | tail -n 1)
    local options=(-m "$gguf" -t "$threads" -c $((largest * (prompt + new_tokens + 16))) -npp "$prompt" -ntg "$new_tokens"
        -npl "$batches" --output-format jsonl)
    [ "$shared" = 1 ] && options+=(-pps)
    llamacpp_run "$LLAMA_BATCHED_BENCH" "${options[@]}" >"$log" 2>&1 ||
        { tail -n 20 "$log" >&2; echo "llama-batched-bench failed on $gguf (its output: $log)" >&2; return 1; }
    python3 "$LLAMACPP_LIB_DIR/llamacpp_results.py" batched "$log" --npp "$prompt" --ntg "$new_tokens" --npl "$batches"
}
