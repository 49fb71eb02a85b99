#!/usr/bin/env bash
# Warm-up of the container image with and without its AOT cache: the image built by
# deploy/container/build-and-smoke.sh runs (host network) in front of bench/MockAzure.java, and from the moment
# the container starts a closed-loop load of 64 connections runs in 1-s rounds; the script prints, per run, the
# time to liveness and the req/s of each second, and the seconds until a round reaches 90% of the best rate of the
# run's last 10 rounds. Alternates "cache" and "no cache" (-XX:AOTMode=off) runs.
#
# Usage: bench/aot-warmup.sh [RUNS_EACH (default 2)] [SECONDS (default 40)]
# Environment: IMAGE (default localhost/powerproxy:smoke), CONTAINERS_CONF (default deploy/container/containers.conf).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
RUNS=${1:-2}
SECONDS_EACH=${2:-40}
IMAGE=${IMAGE:-localhost/powerproxy:smoke}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/container/containers.conf}
T=$(mktemp -d)
PIDS=()
NAME=powerproxy-warmup-$$
cleanup() {
  podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
use_jdk aot-warmup
podman image exists "$IMAGE" || { echo "aot-warmup: no image $IMAGE (run deploy/container/build-and-smoke.sh)" >&2; exit 1; }
javac -d "$T/classes" bench/MockAzure.java bench/LoadClient.java bench/ResponseFraming.java
mock_port=$(free_port)
"$JAVA" -XX:+UseSerialGC -cp "$T/classes" MockAzure --port "$mock_port" >"$T/mock.log" 2>&1 &
PIDS+=("$!")
wait_for_line "$T/mock.log" "ready" "$!" 30 || { cat "$T/mock.log" >&2; exit 1; }
config="clients:
  - name: Warm-up
    key: warmup-key-0123456789
    deployments_allowed: gpt-4o
    max_tokens_per_minute_in_k: 1000000
plugins:
  - name: AllowDeployments
  - name: LimitUsage
  - name: LogUsageToCsvFile
    log_dir: /tmp/usage
aoai:
  endpoints:
    - name: Mock
      url: http://127.0.0.1:$mock_port/
      key: upstream-key-0123456789
      connections:
        limits:
          max_connections: 200
          max_keepalive_connections: 200"

one_run() { # $1: cache|no-cache
  local port mode=auto t0 ready_ms second rates="" out
  [ "$1" = no-cache ] && mode=off
  port=$(free_port)
  t0=$(now_ms)
  podman run -d --name "$NAME" --network host --read-only --tmpfs /tmp -e JAVA_TOOL_OPTIONS="-XX:AOTMode=$mode" \
    -e POWERPROXY_CONFIG_STRING="$config" "$IMAGE" --port "$port" >/dev/null
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/powerproxy/health/liveness" || true)" = 204 ]; do
    [ $(( $(now_ms) - t0 )) -lt 60000 ] || { podman logs "$NAME" >&2; exit 1; }
    sleep 0.05
  done
  ready_ms=$(( $(now_ms) - t0 ))
  for second in $(seq 1 "$SECONDS_EACH"); do
    out=$("$JAVA" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$T/classes" LoadClient --port "$port" --rate 0 \
      --connections 64 --duration-s 1 --warmup-s 0 --keys warmup-key-0123456789 \
      --path "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21" 2>&1 | grep -o 'rps=[0-9]*' | head -1)
    rates="$rates ${out#rps=}"
  done
  podman rm -f -t 5 "$NAME" >/dev/null
  echo "$1 ready_ms=$ready_ms to_90pct_s=$(echo "$rates" | awk '{ for (i = NF - 9; i <= NF; i++) if ($i > m) m = $i
    for (i = 1; i <= NF; i++) if ($i >= 0.9 * m) { print i; exit } }') rates:$rates"
}

for run in $(seq 1 "$RUNS"); do
  one_run cache
  one_run no-cache
done
