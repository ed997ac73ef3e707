# shellcheck shell=bash
# Shared by scripts/test-slurm and scripts/test-multihost: which binary and demo model to run,
# whether the run commands exist yet, and what a finished bundle must contain.
# Sourced after scripts/lib/common.sh.

# seconds_since START — seconds, to a tenth, since START (an earlier $EPOCHREALTIME).
seconds_since() {
    awk -v start="$1" -v now="$EPOCHREALTIME" 'BEGIN { printf "%.1f", now - start }'
}

# THINKLENS_BIN: the thinklens executable under test. Default: the release build of this checkout,
# built (incrementally) when the variable is unset.
resolve_thinklens_bin() {
    if [ -z "${THINKLENS_BIN:-}" ]; then
        step "swift build -c release --product thinklens" swift build -c release --product thinklens
        THINKLENS_BIN="$(swift build -c release --show-bin-path)/thinklens"
    fi
    if [ ! -x "$THINKLENS_BIN" ]; then
        echo "THINKLENS_BIN=$THINKLENS_BIN is not an executable file: build it (swift build -c release) or point THINKLENS_BIN at one" >&2
        exit 1
    fi
    export THINKLENS_BIN
}

# The demo model and SAEs that scripts/demo generates (gitignored under models/demo/).
resolve_demo_model() {
    THINKLENS_DEMO_MODEL="${THINKLENS_DEMO_MODEL:-$THINKLENS_ROOT/models/demo/model}"
    THINKLENS_DEMO_SAE="${THINKLENS_DEMO_SAE:-$THINKLENS_ROOT/models/demo/sae}"
    export THINKLENS_DEMO_MODEL THINKLENS_DEMO_SAE
}

# missing_run_prerequisites SUBCOMMAND:OPTION... — prints what the thinklens run needs and is missing
# (one item per line); prints nothing when ready.
# A subcommand counts as missing while its --help says "not implemented" or lacks the option this
# test relies on (the placeholder subcommands have no options yet). Only --help is called: a bare
# call could act (keygen writes files).
missing_run_prerequisites() {
    local command option help
    for command in "$@"; do
        option="${command#*:}"; command="${command%%:*}"
        help="$("$THINKLENS_BIN" "$command" --help 2>&1 || true)"
        if grep -qi "not implemented" <<<"$help" || ! grep -q -- "$option" <<<"$help"; then
            echo "thinklens $command (no $option option, or says 'not implemented')"
        fi
    done
    [ -f "$THINKLENS_DEMO_MODEL/config.json" ] ||
        echo "demo model at THINKLENS_DEMO_MODEL=$THINKLENS_DEMO_MODEL (no config.json; scripts/demo generates it)"
    [ -d "$THINKLENS_DEMO_SAE" ] ||
        echo "demo SAEs at THINKLENS_DEMO_SAE=$THINKLENS_DEMO_SAE (scripts/demo generates them)"
    [ -n "${THINKLENS_GSM8K_DIR:-}" ] && [ -f "$THINKLENS_GSM8K_DIR/train.jsonl" ] ||
        echo "GSM8K train.jsonl in THINKLENS_GSM8K_DIR=${THINKLENS_GSM8K_DIR:-<unset>}"
}

# skip_or_fail_when_run_missing TEST_NAME SUBCOMMAND:OPTION... — exits 0 with a loud SKIPPED when the run commands are
# missing and THINKLENS_ALLOW_MISSING_RUN=1, exits 1 when they are missing otherwise, returns when ready.
skip_or_fail_when_run_missing() {
    local name="$1" missing
    shift
    missing="$(missing_run_prerequisites "$@")"
    [ -z "$missing" ] && return 0
    if grep -q "^thinklens coordinator" <<<"$missing"; then
        local headline="thinklens coordinator not implemented yet"
    else
        local headline="the run's prerequisites are missing"
    fi
    {
        echo
        echo "################################################################################"
        if [ "${THINKLENS_ALLOW_MISSING_RUN:-0}" = 1 ]; then
            echo "## SKIPPED: $headline"
        else
            echo "## FAILED: $headline"
        fi
        echo "## $name proved everything up to the thinklens run; missing:"
        sed 's/^/##   - /' <<<"$missing"
        echo "## THINKLENS_BIN=$THINKLENS_BIN"
        if [ "${THINKLENS_ALLOW_MISSING_RUN:-0}" != 1 ]; then
            echo "## (set THINKLENS_ALLOW_MISSING_RUN=1 to skip instead of failing)"
        fi
        echo "################################################################################"
    } >&2
    [ "${THINKLENS_ALLOW_MISSING_RUN:-0}" = 1 ] && exit 0
    exit 1
}

# check_bundle DIR PROBLEM_COUNT HOOKPOINT... — the files a finished bundle must hold, their shapes
# agreeing with each other (stdlib Python only: CI has no numpy here).
check_bundle() {
    local dir="$1" count="$2"; shift 2
    python3 - "$dir" "$count" "$@" <<'PY'
import json, struct, sys
from pathlib import Path

bundle, count, hookpoints = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]

def fail(what):
    sys.exit(f"bundle {bundle}: {what}")

for name in ("manifest.json", "run.json"):
    try:
        json.loads((bundle / name).read_text())
    except (OSError, ValueError) as error:
        fail(f"{name} is missing or not JSON ({error})")

lines = (bundle / "inferences.jsonl").read_text().splitlines() if (bundle / "inferences.jsonl").exists() else fail("inferences.jsonl is missing")
if len(lines) != count:
    fail(f"inferences.jsonl has {len(lines)} lines, expected {count} (one per problem)")
for number, line in enumerate(lines, 1):
    record = json.loads(line)
    for field in ("id", "prompt_ids", "generated_ids", "stop", "verdict"):
        if field not in record:
            fail(f"inferences.jsonl line {number} has no field '{field}'")

for hookpoint in hookpoints:
    path = bundle / "latents" / f"{hookpoint}.safetensors"
    if not path.exists():
        fail(f"{path.relative_to(bundle)} is missing")
    with path.open("rb") as handle:
        (header_length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(header_length))
    shapes = {name: header[name]["shape"] for name in ("problem", "position", "token", "segment", "indices", "acts") if name in header}
    if len(shapes) != 6:
        fail(f"{path.name} lacks tensors: has {sorted(header)}")
    rows = shapes["problem"][0]
    if rows == 0 or any(shape[0] != rows for shape in shapes.values()) or shapes["indices"] != shapes["acts"]:
        fail(f"{path.name} tensor shapes disagree or are empty: {shapes}")
    if not (bundle / "tables" / hookpoint / "features.csv").exists():
        fail(f"tables/{hookpoint}/features.csv is missing")
    print(f"bundle ok: {hookpoint}: {rows} latent rows, k={shapes['indices'][1]}")
print(f"bundle ok: {count} inferences in {bundle}")
PY
}
