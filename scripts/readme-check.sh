#!/usr/bin/env bash
# The README's shell examples run as written, against a local host of this check's own. A block
# is checked when the line just before its opening "```sh" fence is one of
#   <!-- readme-check setup -->   a setup block: checked itself, and run before every later
#                                 block until the next setup block
#   <!-- readme-check -->         a block checked after the latest setup block before it
# and ends at the next "```" line; unmarked blocks are not run. Each block runs in a fresh
# `bash` (set -euo pipefail; `curl` is `curl --fail-with-body`, so an HTTP error status fails it,
# in subshells too), in a fresh temporary directory holding links `target` and `events` to the
# repo's (the blocks' files, import.json, errors.csv, ..., land there and are removed), without
# IMPORTCTL_ENDPOINT or IMPORTCTL_TOKEN, for README_CHECK_TIMEOUT seconds at most (300). A block
# sees no variable another block set, except the setup block's.
# The README writes the API as http://127.0.0.1:9000 (`make up`'s default port): the check
# replaces every 127.0.0.1:9000 in a block with 127.0.0.1:PORT of its own host before running it.
# Zero marked blocks is a failure: a check that runs nothing passes nothing.
#   AWS_ENDPOINT_URL=... scripts/readme-check.sh     (scripts/test.sh runs it on its emulator)
#   README=path/to/file.md ...                        another file than README.md
#   README_CHECK_SHOW=1 ...                           print what every block printed, not only a
#                                                     failed one's
# Needs the workspace's binaries built (cargo build --workspace --bins) and curl >= 7.76.
set -euo pipefail
readme=${README:-README.md}
name=$readme
readme=$(realpath "$readme")
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
: "${AWS_ENDPOINT_URL:?set it to the emulator URL, as scripts/test.sh does}"
timeout=${README_CHECK_TIMEOUT:-300}
if ! curl --help all 2>/dev/null | grep -q -- --fail-with-body; then
  echo "readme-check needs curl >= 7.76 (--fail-with-body); this is $(curl --version | head -n 1)" >&2; exit 1
fi

# The marked blocks: kinds[i] (setup or check), starts[i] (the line of the opening fence),
# bodies[i].
kinds=() starts=() bodies=()
marker="" marker_line=0 in_block=0 body="" n=0
while IFS= read -r line || [ -n "$line" ]; do
  n=$((n + 1))
  trimmed=${line%"${line##*[![:space:]]}"}
  if [ "$in_block" = 1 ]; then
    if [ "$trimmed" = '```' ]; then in_block=0; bodies+=("$body"); else body+="$line"$'\n'; fi
    continue
  fi
  if [ -n "$marker" ]; then
    if [ "$trimmed" != '```sh' ]; then
      echo "$name line $marker_line: a readme-check mark not followed by a \`\`\`sh line" >&2; exit 1
    fi
    kinds+=("$marker") starts+=("$n") in_block=1 body="" marker=""
    continue
  fi
  case "$trimmed" in
    '<!-- readme-check setup -->') marker=setup marker_line=$n ;;
    '<!-- readme-check -->') marker=check marker_line=$n ;;
  esac
done <"$readme"
if [ "$in_block" = 1 ]; then echo "$name line ${starts[-1]}: the block never ends (no \`\`\` line)" >&2; exit 1; fi
if [ -n "$marker" ]; then echo "$name line $marker_line: a readme-check mark at the end of the file" >&2; exit 1; fi
if [ ${#bodies[@]} = 0 ]; then
  echo "readme-check: no marked blocks in $name (<!-- readme-check --> before a \`\`\`sh line)" >&2; exit 1
fi

# shellcheck source=scripts/local-host.sh
source scripts/local-host.sh
start_local_host "rc$(date +%s)"
work=$(mktemp -d)
trap 'stop_local_host; rm -rf "$work"' EXIT
prelude='set -euo pipefail
# An HTTP error status fails curl, in subshells too.
curl() { command curl --fail-with-body "$@"; }
export -f curl'

setup="" failed=()
for i in "${!bodies[@]}"; do
  num=$((i + 1)) line=${starts[$i]}
  block=${bodies[$i]//127.0.0.1:9000/127.0.0.1:$port}
  script="$work/block-$num.sh" out="$work/block-$num.out" dir="$work/block-$num"
  {
    printf '%s\n' "$prelude"
    if [ "${kinds[$i]}" = check ] && [ -n "$setup" ]; then printf '%s' "$setup"; fi
    printf '# block %s, %s line %s\n%s' "$num" "$name" "$line" "$block"
  } >"$script"
  if [ "${kinds[$i]}" = setup ]; then printf -v setup '# setup block %s, %s line %s\n%s' "$num" "$name" "$line" "$block"; fi
  mkdir "$dir"
  ln -s "$here/target" "$dir/target"
  ln -s "$here/events" "$dir/events"
  started=$SECONDS status=0
  # timeout runs the block in a process group of its own (its pid): whatever the block left
  # running in the background is stopped with it.
  (cd "$dir" && exec env -u IMPORTCTL_ENDPOINT -u IMPORTCTL_TOKEN timeout -k 10 "$timeout" bash "$script") \
    >"$out" 2>&1 </dev/null &
  pid=$!
  wait "$pid" || status=$?
  kill -- "-$pid" 2>/dev/null || true
  took=$((SECONDS - started))
  if [ "$status" = 0 ]; then
    echo "readme block $num ($name line $line): ok ($took s)"
    if [ "${README_CHECK_SHOW:-0}" = 1 ]; then cat "$out"; fi
    continue
  fi
  failed+=("block $num (line $line)")
  if [ "$status" = 124 ] || [ "$status" = 137 ]; then why="timed out after $timeout s"; else why="exit $status, $took s"; fi
  echo "readme block $num ($name line $line): FAILED ($why)"
  echo "--- the script:"
  cat -n "$script"
  echo "--- its output:"
  cat "$out"
  echo "---"
done
if [ ${#failed[@]} -gt 0 ]; then
  printf -v list '%s, ' "${failed[@]}"
  echo "readme-check: failed in $name: ${list%, }" >&2
  exit 1
fi
