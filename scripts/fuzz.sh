#!/usr/bin/env bash
# Every fuzz target of fuzz/ for FUZZ_SECONDS each (default 60), one after another; prints per
# target the inputs tried and the CPU seconds, and fails if any target crashed (the input is
# kept in fuzz/artifacts/<target>/). cargo-fuzz is installed into .tools/ when missing.
#   scripts/fuzz.sh [target ...]      (all targets when none is named)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
cargo_fuzz="$here/.tools/bin/cargo-fuzz"
if [ ! -x "$cargo_fuzz" ]; then
  cargo install cargo-fuzz --locked --root "$here/.tools"
fi
# libFuzzer's flags are nightly-only; the one stable toolchain accepts them this way.
export RUSTC_BOOTSTRAP=1
# No sanitizer: the readers are safe Rust, and a panic or a failed assertion is the crash.
# Debug assertions on: an arithmetic overflow is a crash too.
flags=(--sanitizer none --debug-assertions)
cd "$here/fuzz"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <("$cargo_fuzz" list)

# Seed corpora from the test data, rebuilt each run (fuzz/seeds is not kept in git); what the
# fuzzer finds grows fuzz/corpus/<target> across runs.
data="$here/tests/data/corpus"
rm -rf seeds && mkdir -p seeds
for t in dialect_sniff split_records chunk_scan; do
  mkdir -p "seeds/$t"
  find "$data" "$here/shared/domain/testdata" -type f ! -name '*.expect.json' ! -name '*.py' ! -name '*.md' \
    -exec cp -t "seeds/$t" {} +
done
mkdir -p seeds/stage_json seeds/stage_utf16 seeds/create_body seeds/patch_body
cp "$data"/*.jsonl seeds/stage_json/
find "$data" "$here/shared/domain/testdata" -name '*.json' ! -name '*.expect.json' -exec cp -t seeds/stage_json {} +
cp "$data"/utf16* "$data"/multichunk_utf16le.csv seeds/stage_utf16/
# Every input that once crashed a target is replayed first (fuzz/regressions/<target>).
for d in regressions/*/; do mkdir -p "seeds/$(basename "$d")" && cp "$d"* "seeds/$(basename "$d")/"; done
# Create bodies: each corpus case's, and the sample events'; PATCH bodies: the sample's and each kind.
python3 - "$here" <<'PY'
import json, pathlib, sys
here = pathlib.Path(sys.argv[1])
for i, f in enumerate(sorted((here / "tests/data/corpus").glob("*.expect.json"))):
    body = json.loads(f.read_text()).get("body")
    if body is not None:
        (here / f"fuzz/seeds/create_body/{f.stem}").write_text(json.dumps(body))
for f in sorted(here.glob("events/*/*.json")):
    body = json.loads(f.read_text()).get("body")
    if isinstance(body, str):
        kind = "patch_body" if "patch" in f.name else "create_body"
        (here / f"fuzz/seeds/{kind}/{f.stem}").write_text(body)
kinds = [{"in_preview": False}, {"dry_run": False}, {"interrupt": True},
         {"in_preview": False, "mappings": {"E-mail": "email", "Notes": "custom.notes", "x": None}}]
for i, body in enumerate(kinds):
    (here / f"fuzz/seeds/patch_body/kind_{i}").write_text(json.dumps(body))
PY

"$cargo_fuzz" build "${flags[@]}"
# Inputs up to 16 KB (longer seeds are cut there): many records, chunks and read boundaries
# each, and quick enough to try many.
summary=() failed=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t"
  log=$(mktemp)
  TIMEFORMAT='%U %S'
  if { time "$cargo_fuzz" run "${flags[@]}" "$t" "corpus/$t" "seeds/$t" -- \
         -max_total_time="$seconds" -max_len=16384 -print_final_stats=1 >"$log" 2>&1; } 2>"$log.time"; then
    result=ok
  else
    result=CRASHED; failed+=("$t")
    grep -B2 -A12 -E 'panicked at' "$log" | head -40 || tail -30 "$log"
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  cpu=$(awk '{printf "%.0f", $1 + $2}' "$log.time")
  summary+=("$(printf '%-14s %12s inputs %6s CPU s  %s' "$t" "$runs" "$cpu" "$result")")
  rm -f "$log" "$log.time"
done
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/<target>/)"
  exit 1
fi
