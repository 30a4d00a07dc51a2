# shellcheck shell=bash
# Sourced (not run) by the checks that drive a local host of their own, scripts/api-check.sh and
# scripts/readme-check.sh, from the repo root with AWS_ENDPOINT_URL set to a running emulator:
#   source scripts/local-host.sh
#   start_local_host PREFIX
# starts `target/debug/local serve` on a free port with its resources named PREFIX..., its log
# in a temporary file, and waits until `importctl list --limit 1` answers (printing the log and
# exiting 1 when the host dies or stays silent for a minute). It sets `port`, `server` (the host's
# pid) and IMPORTCTL_ENDPOINT (exported), and sets an EXIT trap that runs stop_local_host; a
# script with more to clean up replaces that trap with one that calls stop_local_host too.

# The emulator takes any credentials.
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_REGION=${AWS_REGION:-us-east-1}

start_local_host() {
  local prefix=$1 token i
  port=$(scripts/emulator.sh free-port)
  local_host_log=$(mktemp)
  RUST_LOG=warn target/debug/local serve --port "$port" --prefix "$prefix" >"$local_host_log" 2>&1 &
  server=$!
  trap stop_local_host EXIT
  export IMPORTCTL_ENDPOINT="http://127.0.0.1:$port"
  # Any tenant's token does to ask.
  token=$(target/debug/importctl token --tenant local-host-check)
  for i in $(seq 1 300); do
    if IMPORTCTL_TOKEN=$token target/debug/importctl list --limit 1 >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$server" 2>/dev/null || [ "$i" = 300 ]; then
      echo "the local host did not come up" >&2; cat "$local_host_log" >&2; exit 1
    fi
    sleep 0.2
  done
}

stop_local_host() {
  if [ -n "${server:-}" ]; then kill "$server" 2>/dev/null || true; fi
  if [ -n "${local_host_log:-}" ]; then rm -f "$local_host_log"; fi
}
