# shellcheck shell=bash
# Sourced (not run), from the repo root. The checks that drive a local host of their own
# (scripts/api-check.sh, scripts/readme-check.sh), with AWS_ENDPOINT_URL set to a running
# emulator, call
#   start_local_host PREFIX
# which starts `target/debug/local serve` on a free port with its resources named PREFIX..., its
# log in a temporary file, and waits for it (wait_for_local_host, a minute). It sets `port`,
# `server` (the host's pid) and IMPORTCTL_ENDPOINT (exported), and sets an EXIT trap that runs
# stop_local_host; a script with more to clean up replaces that trap with one that calls
# stop_local_host too. scripts/sample-import.sh waits for `make up`'s host the same way.

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
  wait_for_local_host "$server" "$local_host_log" 60
}

# Waits until the API at IMPORTCTL_ENDPOINT answers (it does once its stack is provisioned), for
# SECONDS at most; exits 1 with the end of the host's log when the host (PID, when given) stops
# or stays silent.
#   wait_for_local_host PID LOG SECONDS
wait_for_local_host() {
  local pid=$1 log=$2 tries=$(($3 * 5)) token i why
  # Any tenant's token does to ask.
  token=$(target/debug/importctl token --tenant local-host-check)
  for i in $(seq 1 "$tries"); do
    if IMPORTCTL_TOKEN=$token target/debug/importctl list --limit 1 >/dev/null 2>&1; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      why="stopped"
    elif [ "$i" = "$tries" ]; then
      why="did not answer on $IMPORTCTL_ENDPOINT within $3 s"
    else
      sleep 0.2
      continue
    fi
    echo "the local host $why; the end of its log${log:+ ($log)}:" >&2
    if [ -n "$log" ]; then tail -n 50 "$log" >&2; fi
    exit 1
  done
}

stop_local_host() {
  if [ -n "${server:-}" ]; then kill "$server" 2>/dev/null || true; fi
  if [ -n "${local_host_log:-}" ]; then rm -f "$local_host_log"; fi
}
