#!/usr/bin/env bash
# Starts or stops the local AWS stack (moto's server: S3, DynamoDB and SQS on their wire protocols).
#   scripts/emulator.sh start PORT STATE_DIR   start it in the background, wait until it answers
#   scripts/emulator.sh stop STATE_DIR         stop the one started there
#   scripts/emulator.sh free-port              print a free loopback port
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.venv"

case "${1:-}" in
  free-port)
    "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
    ;;
  start)
    port=$2 state=$3
    mkdir -p "$state"
    if [ -f "$state/moto.pid" ] && kill -0 "$(cat "$state/moto.pid")" 2>/dev/null; then
      echo "emulator already running (pid $(cat "$state/moto.pid"))"; exit 0
    fi
    "$venv/bin/python" "$here/scripts/moto_server.py" -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
    echo $! >"$state/moto.pid"
    for _ in $(seq 1 100); do
      if "$venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/data.json', timeout=1)" 2>/dev/null; then
        echo "emulator on http://127.0.0.1:$port"; exit 0
      fi
      if ! kill -0 "$(cat "$state/moto.pid")" 2>/dev/null; then
        echo "emulator failed to start:" >&2; cat "$state/moto.log" >&2; exit 1
      fi
      sleep 0.2
    done
    echo "emulator did not answer on port $port" >&2; exit 1
    ;;
  stop)
    state=$2
    if [ -f "$state/moto.pid" ]; then
      kill "$(cat "$state/moto.pid")" 2>/dev/null || true
      rm -f "$state/moto.pid"
    fi
    ;;
  *)
    echo "usage: $0 start PORT STATE_DIR | stop STATE_DIR | free-port" >&2; exit 2
    ;;
esac
