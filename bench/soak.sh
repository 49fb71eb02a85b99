#!/usr/bin/env bash
# PowerProxy soak: a long, steady mix of streaming and non-streaming load on the proxy, watching its memory over time,
# every error, and the usage rows against the answered requests.
#
#   make soak                      # or: bench/soak.sh              30 minutes of load (about 32 min in all)
#   make soak SOAK_MINUTES=3       # or: bench/soak.sh --minutes 3  a short run, to try it (its report says "short")
#
# Options (each also an environment variable; the option wins):
#   --minutes N       SOAK_MINUTES (default 30; decimals work)  how long the load runs
#   --rate R          SOAK_RATE (default 300)  non-streaming chat requests/s, open loop (bench/LoadClient.java)
#   --streams N       SOAK_STREAMS (default 200)  concurrent SSE streams of 29 events, each stream followed by the next
#                     on its connection (bench/StreamClient.java)
#   --event-ms MS     SOAK_EVENT_MS (default 40)  gap between a stream's 25 content events
#   --large-rate R    SOAK_LARGE_RATE (default 1; 0: none)  requests/s with a 256 KiB prompt and a 1 MiB answer
#   --sample-s S      SOAK_SAMPLE_S (default 10)  seconds between samples; shorter runs sample more often (18 at least)
#   --max-growth P    SOAK_MAX_GROWTH_PCT (default 5)  the plateau bound: the median RSS of the last third of the run
#                     may exceed the median of the middle third by less than P percent
#   --max-live-growth MB  SOAK_MAX_LIVE_GROWTH_MB (default 32)  the live heap (after a forced full GC) 5 s before the
#                     load ends may exceed the one where the last third began by less than MB
#   --no-build (use target/powerproxy.jar as is), --no-install (never apt-get gnuplot), --out DIR (default
#   bench/results), --keep (keep the temp dir with every log).
# Environment: PROXY_JVM_FLAGS (default "-Xmx1g -XX:+UseParallelGC": the samples read the heap after each collection
#              from the Parallel collector's GC log lines; make bench runs the shipped ZGC), JAVA_HOME (else .ci/find-jdk).
#
# What it does: builds the jar (make jar), starts bench/MockAzure.java in its own process (two ports: the two endpoints
# of the config) and the proxy (3 clients, AllowDeployments, LimitUsage with budgets no run reaches, LogUsageToCsvFile,
# 2 endpoints with virtual deployments). Then, for the whole duration and at the same time: non-streaming chat at a
# fixed rate, concurrent streams, and a few requests with large bodies both ways. Every sample interval it records the
# proxy's RSS (VmRSS), heap after its latest GC (from its GC log, so nothing attaches to it), threads, open file
# descriptors, CPU, and the usage rows written so far. Where the middle and the last third of the load begin, 5 s
# before it ends and after it, a full GC (jcmd GC.run) shows the live heap. At the end it stops the proxy with SIGTERM
# and compares the answers the clients got, the proxy's access log (by status) and the usage rows in the CSV (request
# id by request id).
# Writes bench/results/soak-<date>-<cores>cores-jdk<N>-<minutes>min.md (with "-short" below 30 minutes), the samples
# as .tsv and a PNG chart (gnuplot, installed with apt-get when missing and running as root).
# Exit status: 0 when it held; 1 on any error (a transport error, a non-2xx answer, a lost event, an unfinished stream,
# an ERROR line in the proxy's log, an exit code other than 0 on SIGTERM, a rate the machine did not carry), a usage
# row missing or extra, RSS that did not plateau or a live heap that grew; 2 for a usage error.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# forget_pid, free_port, wait_for_line, cpu_ticks, busy_ticks, children_ticks (shared with bench/run.sh)
source bench/lib.sh

MINUTES=${SOAK_MINUTES:-30}
RATE=${SOAK_RATE:-300}
STREAMS=${SOAK_STREAMS:-200}
EVENT_MS=${SOAK_EVENT_MS:-40}
LARGE_RATE=${SOAK_LARGE_RATE:-1}
SAMPLE_S=${SOAK_SAMPLE_S:-10}
MAX_GROWTH_PCT=${SOAK_MAX_GROWTH_PCT:-5}
MAX_LIVE_GROWTH_MB=${SOAK_MAX_LIVE_GROWTH_MB:-32}
INSTALL=1
BUILD=1
OUT=
KEEP=0
usage_error() { echo "soak: $1 (see --help)" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=${2:-} ; shift ;;
    --rate) RATE=${2:-}; shift ;;
    --streams) STREAMS=${2:-}; shift ;;
    --event-ms) EVENT_MS=${2:-}; shift ;;
    --large-rate) LARGE_RATE=${2:-}; shift ;;
    --sample-s) SAMPLE_S=${2:-}; shift ;;
    --max-growth) MAX_GROWTH_PCT=${2:-}; shift ;;
    --max-live-growth) MAX_LIVE_GROWTH_MB=${2:-}; shift ;;
    --no-install) INSTALL=0 ;;
    --no-build) BUILD=0 ;;
    --out) OUT=${2:-}; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) usage_error "unknown option $1" ;;
  esac
  shift
done
is_number() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }
for v in MINUTES RATE STREAMS EVENT_MS LARGE_RATE SAMPLE_S MAX_GROWTH_PCT MAX_LIVE_GROWTH_MB; do
  is_number "${!v}" || usage_error "$v must be a number, not '${!v}'"
done
[[ $STREAMS =~ ^[0-9]+$ && $EVENT_MS =~ ^[0-9]+$ && $MAX_LIVE_GROWTH_MB =~ ^[0-9]+$ ]] \
  || usage_error "--streams, --event-ms and --max-live-growth take whole numbers"
DURATION_S=$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 + 0.5 }')
[ "$DURATION_S" -ge 30 ] || usage_error "--minutes $MINUTES is under 30 s: too short to see anything"
# At least 18 samples, so that each third of the run has 6 or more.
SAMPLE_S=$(awk -v s="$SAMPLE_S" -v d="$DURATION_S" 'BEGIN { m = d / 18; if (s > m) s = m; if (s < 1) s = 1; printf "%d", s }')
[ "$STREAMS" -gt 0 ] || [ "$(awk -v r="$RATE" 'BEGIN { print (r > 0) }')" = 1 ] || usage_error "no load: --rate and --streams are both 0"
FULL_MINUTES=30
SHORT=$(( DURATION_S < FULL_MINUTES * 60 ? 1 : 0 ))
CHUNKS=25
EXPECT_EVENTS=$((CHUNKS + 4))   # prompt filter, role, content chunks, finish, [DONE] (the usage chunk is the proxy's)
STREAM_RAMP_S=5
LARGE_BODY_BYTES=262144
LARGE_ANSWER_BYTES=1048576
NS_CONNECTIONS=32
PROXY_JVM_FLAGS=${PROXY_JVM_FLAGS:--Xmx1g -XX:+UseParallelGC}
TOOL_JVM_FLAGS="-XX:+UseSerialGC -Xms64m -Xmx1g -XX:-UsePerfData"
API_PATH="/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
START_MS=$(now_ms)
log() { printf '==> [%4ss] %s\n' "$(( ($(now_ms) - START_MS) / 1000 ))" "$*" >&2; }
FAILURES=()
WARNINGS=()
fail() { printf 'soak: FAILED: %s\n' "$*" >&2; FAILURES+=("$*"); }
warn() { printf 'soak: WARNING: %s\n' "$*" >&2; WARNINGS+=("$*"); }

# --- JDK, temp dir, processes --------------------------------------------------------------------------------------
use_jdk soak

T=$(mktemp -d /tmp/powerproxy-soak.XXXXXX)
PIDS=()
cleanup() {
  local pid
  touch "$T/stop-sampling" 2>/dev/null
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ "$KEEP" = 1 ]; then echo "soak: temp dir kept: $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- build ---------------------------------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  log "make jar"
  if ! make -s jar >"$T/build.log" 2>&1; then
    cat "$T/build.log" >&2
    echo "soak: make jar failed" >&2
    exit 1
  fi
fi
[ -f target/powerproxy.jar ] || { echo "soak: no target/powerproxy.jar (run make jar)" >&2; exit 1; }
# A copy: a rebuild of target/ during the run must not pull classes out from under the running proxy.
JAR="$T/powerproxy.jar"
cp target/powerproxy.jar "$JAR"

# The bench tools, compiled as bench/run.sh does it (the same folder and stamp; again only when a source is newer).
CLASSES="$ROOT/target/bench-classes"
if [ ! -f "$CLASSES/.stamp" ] || [ -n "$(find bench -name '*.java' -newer "$CLASSES/.stamp" | head -1)" ] \
    || [ "$(cat "$CLASSES/.jdk" 2>/dev/null)" != "$JDK_VERSION" ]; then
  log "javac bench/*.java"
  rm -rf "$CLASSES"
  mkdir -p "$CLASSES"
  touch "$CLASSES/.stamp.new"
  if ! javac -d "$CLASSES" bench/MockAzure.java bench/StreamClient.java bench/LoadClient.java bench/ResponseFraming.java bench/Floor.java \
      bench/Report.java >"$T/javac.log" 2>&1; then
    cat "$T/javac.log" >&2
    echo "soak: compiling bench/*.java failed" >&2
    exit 1
  fi
  echo "$JDK_VERSION" >"$CLASSES/.jdk"
  mv "$CLASSES/.stamp.new" "$CLASSES/.stamp"
fi
TOOL="$JAVA $TOOL_JVM_FLAGS -cp $CLASSES"

GNUPLOT=$(command -v gnuplot 2>/dev/null || true)
if [ -z "$GNUPLOT" ] && [ "$INSTALL" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  log "apt-get install gnuplot-nox"
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox \
      || { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
           && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox; }; } \
      >"$T/apt.log" 2>&1 || tail -3 "$T/apt.log" >&2
  GNUPLOT=$(command -v gnuplot 2>/dev/null || true)
fi
[ -n "$GNUPLOT" ] || warn "gnuplot is not installed: no PNG chart"

# --- the mock upstream and the proxy -------------------------------------------------------------------------------
MOCK_PORT1=$(free_port)
MOCK_PORT2=$(free_port)
$TOOL -Dsun.net.httpserver.nodelay=true MockAzure --port "$MOCK_PORT1" --port "$MOCK_PORT2" --chunks "$CHUNKS" \
  --event-interval-ms "$EVENT_MS" >"$T/mock.log" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
if ! wait_for_line "$T/mock.log" "mock ready on port $MOCK_PORT2" "$MOCK_PID" 30; then
  cat "$T/mock.log" >&2
  echo "soak: the mock upstream did not start" >&2
  exit 1
fi

mkdir -p "$T/usage"
cat >"$T/config.yaml" <<EOF
# Written by bench/soak.sh: three teams with budgets no soak reaches, a CSV usage sink, two endpoints (both the mock).
clients:
  - name: Team A
    key: soak-key-team-a-0123456789
    deployments_allowed: gpt-4o, gpt-4o-mini
    max_tokens_per_minute_in_k: 1000000
  - name: Team B
    key: soak-key-team-b-0123456789
    deployments_allowed: [gpt-4o, gpt-4o-mini]
    max_tokens_per_minute_in_k:
      gpt-4o: 1000000
      gpt-4o-mini: 1000000
  - name: Team C
    key: soak-key-team-c-0123456789
    deployments_allowed: gpt-4o
    max_tokens_per_minute_in_k: 1000000

plugins:
  - name: AllowDeployments
  - name: LimitUsage
  - name: LogUsageToCsvFile
    log_dir: $T/usage

aoai:
  endpoints:
    - name: Sweden
      url: http://127.0.0.1:$MOCK_PORT1/
      key: upstream-key-sweden-0123456789
      connections:
        limits:
          max_connections: 2000
          max_keepalive_connections: 1000
          keepalive_expiry: 20  # below the mock's idle close (the JDK server's 30 s), as it must be below an upstream's
      virtual_deployments:
        - name: gpt-4o
          standins:
            - name: gpt-4o-ptu
            - name: gpt-4o-paygo
        - name: gpt-4o-mini
          standins:
            - name: gpt-4o-mini-2024-07-18
    - name: France
      url: http://127.0.0.1:$MOCK_PORT2/
      key: upstream-key-france-0123456789
      connections:
        limits:
          max_connections: 2000
          max_keepalive_connections: 1000
          keepalive_expiry: 20  # below the mock's idle close (the JDK server's 30 s), as it must be below an upstream's
      virtual_deployments:
        - name: gpt-4o
          standins:
            - name: gpt-4o-france
EOF
KEYS="soak-key-team-a-0123456789,soak-key-team-b-0123456789,soak-key-team-c-0123456789"
if ! "$JAVA" -jar "$JAR" --config-file "$T/config.yaml" --validate >"$T/validate.log" 2>&1; then
  cat "$T/validate.log" >&2
  echo "soak: the soak's proxy config is not valid" >&2
  exit 1
fi

PROXY_PORT=$(free_port)
log "proxy on port $PROXY_PORT ($PROXY_JVM_FLAGS; AllowDeployments, LimitUsage, LogUsageToCsvFile)"
# shellcheck disable=SC2086
"$JAVA" $PROXY_JVM_FLAGS -Xlog:gc:file="$T/gc.log" -jar "$JAR" --config-file "$T/config.yaml" --port "$PROXY_PORT" \
  >"$T/proxy.log" 2>&1 &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
if ! wait_for_line "$T/proxy.log" "ready on port" "$PROXY_PID" 60; then
  tail -30 "$T/proxy.log" >&2
  echo "soak: the proxy did not start" >&2
  exit 1
fi

# --- sampling ------------------------------------------------------------------------------------------------------
# Usage rows written so far: every line of the CSV files but each file's header row.
csv_rows() {
  local files=("$T"/usage/*.csv)
  [ -e "${files[0]}" ] || { echo 0; return; }
  echo $(( $(cat "${files[@]}" | wc -l) - ${#files[@]} ))
}
to_mb() { # "123M" / "4567K" / "1G" -> MB
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /K$/) n /= 1024; else if (v ~ /G$/) n *= 1024; printf "%.0f\n", n }'
}
# One line of samples.tsv: seconds since the load started, RSS MB, heap after the latest GC MB, heap committed MB,
# threads, open fds, the proxy's and the mock's CPU since the last sample (% of one core), the whole machine's busy
# CPU (% of all cores), usage rows so far.
sampler() {
  local t0=$1 next=$1 prev_wall prev_proxy prev_mock prev_busy wall proxy mock busy rss threads fds gc after committed
  local elapsed rows key value _
  prev_wall=$(now_ms); prev_proxy=$(cpu_ticks "$PROXY_PID"); prev_mock=$(cpu_ticks "$MOCK_PID"); prev_busy=$(busy_ticks)
  while :; do
    wall=$(now_ms)
    rss=0; threads=0
    while read -r key value _; do
      case "$key" in
        VmRSS:) rss=$value ;;
        Threads:) threads=$value ;;
      esac
    done 2>/dev/null <"/proc/$PROXY_PID/status"
    fds=$(ls "/proc/$PROXY_PID/fd" 2>/dev/null | wc -l)
    gc=$(grep 'Pause' "$T/gc.log" 2>/dev/null | tail -1 | grep -o '[0-9]*[KMG]->[0-9]*[KMG]([0-9]*[KMG])')
    after=; committed=
    if [ -n "$gc" ]; then
      after=$(to_mb "$(echo "$gc" | sed 's/.*->\([0-9]*[KMG]\).*/\1/')")
      committed=$(to_mb "$(echo "$gc" | sed 's/.*(\([0-9]*[KMG]\))/\1/')")
    fi
    proxy=$(cpu_ticks "$PROXY_PID"); mock=$(cpu_ticks "$MOCK_PID"); busy=$(busy_ticks)
    rows=$(csv_rows)
    elapsed=$(awk -v w="$wall" -v t="$t0" 'BEGIN { printf "%.1f", (w - t) / 1000 }')
    # CPU shares need an interval: none for the first sample.
    awk -v e="$elapsed" -v rss="$rss" -v a="${after:--}" -v c="${committed:--}" -v th="$threads" -v fd="$fds" \
        -v dp="$((proxy - prev_proxy))" -v dm="$((mock - prev_mock))" -v db="$((busy - prev_busy))" \
        -v dw="$((wall - prev_wall))" -v hz="$CLK_TCK" -v cores="$(nproc)" -v rows="$rows" 'BEGIN {
      s = dw / 1000
      if (s < 0.5) cpu = "-\t-\t-"
      else cpu = sprintf("%.0f\t%.0f\t%.0f", 100 * dp / hz / s, 100 * dm / hz / s, 100 * db / hz / s / cores)
      printf "%s\t%.0f\t%s\t%s\t%d\t%d\t%s\t%d\n", e, rss / 1024, a, c, th, fd, cpu, rows }'
    prev_wall=$wall; prev_proxy=$proxy; prev_mock=$mock; prev_busy=$busy
    [ -e "$T/stop-sampling" ] && return
    [ -r "/proc/$PROXY_PID/status" ] || return
    next=$((next + SAMPLE_S * 1000))
    while [ "$(now_ms)" -lt "$next" ] && [ ! -e "$T/stop-sampling" ]; do sleep 0.2; done
  done
}

# --- the load ------------------------------------------------------------------------------------------------------
LOAD_DESC="$RATE non-streaming req/s; $STREAMS concurrent streams ($CHUNKS content events ${EVENT_MS} ms apart)"
[ "$LARGE_RATE" != 0 ] && LOAD_DESC="$LOAD_DESC; $LARGE_RATE req/s with a $((LARGE_BODY_BYTES / 1024)) KiB prompt and a $((LARGE_ANSWER_BYTES / 1024)) KiB answer"
log "load for $DURATION_S s: $LOAD_DESC; a sample every ${SAMPLE_S}s"
LOAD_START_LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
children_ticks; C0_CLIENTS=$CHILDREN_TICKS
C0_BUSY=$(busy_ticks); C0_PROXY=$(cpu_ticks "$PROXY_PID"); C0_MOCK=$(cpu_ticks "$MOCK_PID")
LOAD_T0=$(now_ms)
sampler "$LOAD_T0" >"$T/samples.tsv" 2>"$T/sampler.err" &
SAMPLER_PID=$!
PIDS+=("$SAMPLER_PID")
NS_PID=; STREAM_PID=; LARGE_PID=
if [ "$(awk -v r="$RATE" 'BEGIN { print (r > 0) }')" = 1 ]; then
  $TOOL LoadClient --port "$PROXY_PORT" --rate "$RATE" --connections "$NS_CONNECTIONS" --duration-s "$DURATION_S" \
    --warmup-s 0 --path "$API_PATH" --keys "$KEYS" >"$T/ns.txt" 2>&1 &
  NS_PID=$!; PIDS+=("$NS_PID")
fi
if [ "$STREAMS" -gt 0 ]; then
  $TOOL StreamClient --port "$PROXY_PORT" --streams "$STREAMS" --threads 2 --ramp-s "$STREAM_RAMP_S" \
    --duration-s $((DURATION_S - STREAM_RAMP_S)) --drain-s 60 --expect-events "$EXPECT_EVENTS" \
    --event-interval-ms "$EVENT_MS" --path "$API_PATH" --keys "$KEYS" >"$T/streams.txt" 2>&1 &
  STREAM_PID=$!; PIDS+=("$STREAM_PID")
fi
if [ "$(awk -v r="$LARGE_RATE" 'BEGIN { print (r > 0) }')" = 1 ]; then
  $TOOL LoadClient --port "$PROXY_PORT" --rate "$LARGE_RATE" --connections 4 --duration-s "$DURATION_S" --warmup-s 0 \
    --body-bytes "$LARGE_BODY_BYTES" --header "x-bench-completion-bytes: $LARGE_ANSWER_BYTES" --path "$API_PATH" \
    --keys "$KEYS" >"$T/large.txt" 2>&1 &
  LARGE_PID=$!; PIDS+=("$LARGE_PID")
fi
# Progress on stderr, one line a minute (the samples themselves go to the report).
(
  n=0
  while sleep 1; do
    n=$((n + 1)); [ $((n % 60)) = 0 ] || continue
    last=$(tail -1 "$T/samples.tsv" 2>/dev/null)
    [ -n "$last" ] && printf '    t=%ss RSS %s MB, heap after GC %s MB, threads %s, fds %s, proxy CPU %s%%, rows %s\n' \
      $(echo "$last" | cut -f1,2,3,5,6,7,10) >&2
  done
) &
PROGRESS_PID=$!
PIDS+=("$PROGRESS_PID")
# A full GC (jcmd GC.run) where the middle and the last third begin and just before the load ends: the heap after
# it is the live heap, which a leak makes grow; a young collection's figure also holds the old generation's garbage.
full_gc() { jcmd "$PROXY_PID" GC.run >/dev/null 2>&1 || echo "jcmd GC.run failed at $(( ($(now_ms) - LOAD_T0) / 1000 ))s" >>"$T/full-gc.err"; }
FULL_GC_AT=("$(awk -v d="$DURATION_S" 'BEGIN { printf "%d", d / 3 }')" "$(awk -v d="$DURATION_S" 'BEGIN { printf "%d", 2 * d / 3 }')" \
  "$((DURATION_S - 5))")
(
  for at in "${FULL_GC_AT[@]}"; do
    while [ $(( ($(now_ms) - LOAD_T0) / 1000 )) -lt "$at" ]; do sleep 0.5; done
    full_gc
  done
) &
FULL_GC_PID=$!
PIDS+=("$FULL_GC_PID")

# Waits for a client (in this shell: a subshell cannot wait for it); sets CLIENT_RC to its exit status.
wait_client() {
  CLIENT_RC=0
  if [ -n "$1" ]; then wait "$1"; CLIENT_RC=$?; forget_pid "$1"; fi
}
wait_client "$NS_PID"; NS_RC=$CLIENT_RC
wait_client "$STREAM_PID"; STREAM_RC=$CLIENT_RC
wait_client "$LARGE_PID"; LARGE_RC=$CLIENT_RC
LOAD_END=$(now_ms)
LOAD_S=$(( (LOAD_END - LOAD_T0) / 1000 ))
children_ticks; CLIENT_TICKS=$((CHILDREN_TICKS - C0_CLIENTS))
PROXY_TICKS=$(( $(cpu_ticks "$PROXY_PID") - C0_PROXY )); MOCK_TICKS=$(( $(cpu_ticks "$MOCK_PID") - C0_MOCK ))
BUSY_TICKS=$(( $(busy_ticks) - C0_BUSY ))
kill "$PROGRESS_PID" 2>/dev/null; wait "$PROGRESS_PID" 2>/dev/null; forget_pid "$PROGRESS_PID"
wait "$FULL_GC_PID" 2>/dev/null; forget_pid "$FULL_GC_PID"
# One more sample with the load gone, after a last full GC (the live heap at rest) and the sinks' last batch written
# (they write at least every 0.5 s).
full_gc
sleep 2
touch "$T/stop-sampling"
wait "$SAMPLER_PID" 2>/dev/null; forget_pid "$SAMPLER_PID"
ROWS_BEFORE_STOP=$(csv_rows)
log "load done after ${LOAD_S}s; stopping the proxy (SIGTERM)"

# --- stop the proxy ------------------------------------------------------------------------------------------------
STOP_T0=$(now_ms)
kill -TERM "$PROXY_PID" 2>/dev/null
( for _ in $(seq 1 60); do sleep 1; done; kill -KILL "$PROXY_PID" 2>/dev/null ) &
KILLER_PID=$!
wait "$PROXY_PID" 2>/dev/null
STOP_CODE=$?
STOP_MS=$(( $(now_ms) - STOP_T0 ))
forget_pid "$PROXY_PID"
kill "$KILLER_PID" 2>/dev/null; wait "$KILLER_PID" 2>/dev/null
[ "$STOP_CODE" = 0 ] || fail "the proxy exited with $STOP_CODE on SIGTERM (expected 0; 137: still running after 60 s)"

# --- what the clients got ------------------------------------------------------------------------------------------
kv() { # kv FILE KEY: the value of KEY in the client's result line (0 when missing)
  local v
  v=$(grep -m1 -E '^(requests|streams)=' "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p")
  echo "${v:-0}"
}
client_line() { grep -m1 -E '^(requests|streams)=' "$1" 2>/dev/null || echo "(no result: $(tail -c 300 "$1" 2>/dev/null | tr '\n' ' '))"; }
ANSWERED=0; CLIENT_ERRORS=0; CLIENT_NON2XX=0
if [ -n "$NS_PID" ]; then
  NS_REQUESTS=$(kv "$T/ns.txt" requests)
  ANSWERED=$((ANSWERED + NS_REQUESTS))
  CLIENT_ERRORS=$((CLIENT_ERRORS + $(kv "$T/ns.txt" errors) + $(kv "$T/ns.txt" hung)))
  CLIENT_NON2XX=$((CLIENT_NON2XX + $(kv "$T/ns.txt" non2xx)))
  [ "$NS_RC" = 0 ] || fail "non-streaming load: $(client_line "$T/ns.txt") $(grep '  error:' "$T/ns.txt" | head -5 | tr '\n' ' ')"
  # An open-loop client that falls behind queues requests: the machine did not carry the load, so the run says little.
  if awk -v got="$(kv "$T/ns.txt" rps)" -v want="$RATE" 'BEGIN { exit !(got < 0.95 * want) }'; then
    fail "the non-streaming client reached $(kv "$T/ns.txt" rps) of $RATE req/s: this machine did not carry the load (lower --rate and --streams, or run it when the machine is quieter)"
  fi
fi
if [ -n "$STREAM_PID" ]; then
  STREAMS_DONE=$(( $(kv "$T/streams.txt" completed) + $(kv "$T/streams.txt" non2xx) ))
  ANSWERED=$((ANSWERED + STREAMS_DONE))
  EVENTS_LOST=$(( $(kv "$T/streams.txt" events_lost) + $(kv "$T/streams.txt" events_extra) ))
  CLIENT_ERRORS=$((CLIENT_ERRORS + $(kv "$T/streams.txt" errors) + $(kv "$T/streams.txt" unfinished) + $(kv "$T/streams.txt" hung)))
  CLIENT_NON2XX=$((CLIENT_NON2XX + $(kv "$T/streams.txt" non2xx)))
  [ "$STREAM_RC" = 0 ] || fail "streams: $(client_line "$T/streams.txt") $(grep '  error:' "$T/streams.txt" | head -5 | tr '\n' ' ')"
fi
if [ -n "$LARGE_PID" ]; then
  LARGE_REQUESTS=$(kv "$T/large.txt" requests)
  ANSWERED=$((ANSWERED + LARGE_REQUESTS))
  CLIENT_ERRORS=$((CLIENT_ERRORS + $(kv "$T/large.txt" errors) + $(kv "$T/large.txt" hung)))
  CLIENT_NON2XX=$((CLIENT_NON2XX + $(kv "$T/large.txt" non2xx)))
  [ "$LARGE_RC" = 0 ] || fail "large bodies: $(client_line "$T/large.txt") $(grep '  error:' "$T/large.txt" | head -5 | tr '\n' ' ')"
fi

# A machine too busy to give the proxy the CPU this load needs shows as queueing in the open-loop client (latency
# from each request's due time): the proxy then worked through the load as fast as it could, so the checks below still
# hold, but the load was not the steady one asked for.
NS_P50=$( [ -n "$NS_PID" ] && kv "$T/ns.txt" p50_ms || echo 0)
TTFB_P50=$( [ -n "$STREAM_PID" ] && kv "$T/streams.txt" ttfb_p50_ms || echo 0)
if awk -v a="$NS_P50" -v b="$TTFB_P50" 'BEGIN { exit !(a > 1000 || b > 1000) }'; then
  warn "the load was not steady: non-streaming p50 $NS_P50 ms, first event p50 $TTFB_P50 ms (over 1 s: the machine did not give the proxy the CPU it needed, and requests queued; other work used $(awk -v t="$BUSY_TICKS" -v p="$PROXY_TICKS" -v m="$MOCK_TICKS" -v c="$CLIENT_TICKS" -v hz="$CLK_TCK" -v s="$LOAD_S" 'BEGIN { o = (t - p - m - c) / hz / s; if (o < 0) o = 0; printf "%.2f", o }') cores). Rerun on a quieter machine or with a lower --rate and --streams"
fi

# --- the proxy's log and the usage rows ----------------------------------------------------------------------------
PROXY_ERRORS=$(grep -c ' ERROR ' "$T/proxy.log")
PROXY_WARNS=$(grep -c ' WARN ' "$T/proxy.log")
[ "$PROXY_ERRORS" = 0 ] || { grep -m5 ' ERROR ' "$T/proxy.log" >&2; fail "the proxy logged $PROXY_ERRORS ERROR lines"; }
# Access lines: "<time> INFO  access - <request id> <method> <path> client=... status=<n> <ms>ms".
awk '/ access - / { id = $0; sub(/.* access - /, "", id); sub(/ .*/, "", id)
                    st = "?"; if (match($0, / status=[0-9]+ /)) st = substr($0, RSTART + 8, RLENGTH - 9)
                    print id "\t" st }' "$T/proxy.log" >"$T/access.tsv"
ACCESS_LINES=$(wc -l <"$T/access.tsv")
ACCESS_BY_STATUS=$(cut -f2 "$T/access.tsv" | sort | uniq -c | awk '{ printf "%s%s: %d", (NR > 1 ? ", " : ""), $2, $1 }')
ACCESS_NON2XX=$(awk -F'\t' '$2 !~ /^2/' "$T/access.tsv" | wc -l)
[ "$ACCESS_NON2XX" = 0 ] || fail "the proxy's access log has $ACCESS_NON2XX answers other than 2xx ($ACCESS_BY_STATUS)"
# Usage rows: request_id and status_code of every data row, by the header's column names (request_id is the last
# column, read from the end, so that a quoted comma earlier in a row cannot shift it).
: >"$T/rows.tsv"
for f in "$T"/usage/*.csv; do
  [ -e "$f" ] || continue
  tr -d '\r' <"$f" | awk -F',' 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; last = (col["request_id"] == NF); next }
    { id = last ? $NF : $col["request_id"]; print id "\t" $col["status_code"] }' >>"$T/rows.tsv"
done
USAGE_ROWS=$(wc -l <"$T/rows.tsv")
ROWS_BY_STATUS=$(cut -f2 "$T/rows.tsv" | sort | uniq -c | awk '{ printf "%s%s: %d", (NR > 1 ? ", " : ""), $2, $1 }')
cut -f1 "$T/access.tsv" | sort >"$T/access-ids"
cut -f1 "$T/rows.tsv" | sort >"$T/row-ids"
ROWS_DUPLICATE=$(uniq -d "$T/row-ids" | wc -l)
ROWS_MISSING=$(comm -23 "$T/access-ids" <(sort -u "$T/row-ids") | wc -l)
ROWS_WITHOUT_ACCESS=$(comm -13 <(sort -u "$T/access-ids") <(sort -u "$T/row-ids") | wc -l)
[ "$USAGE_ROWS" = "$ANSWERED" ] || fail "$USAGE_ROWS usage rows for $ANSWERED answered requests"
if [ "$ACCESS_LINES" = 0 ]; then
  warn "no access lines found in the proxy's log (format changed?): rows checked against the clients' counts only"
else
  [ "$ACCESS_LINES" = "$ANSWERED" ] || fail "$ACCESS_LINES access lines for $ANSWERED answers the clients got"
  [ "$ROWS_MISSING" = 0 ] || fail "$ROWS_MISSING requests in the access log have no usage row"
  [ "$ROWS_WITHOUT_ACCESS" = 0 ] || fail "$ROWS_WITHOUT_ACCESS usage rows have a request id the access log does not have"
fi
[ "$ROWS_DUPLICATE" = 0 ] || fail "$ROWS_DUPLICATE request ids have more than one usage row"

# GC over the run, from the GC log: pauses, of them full, total and longest ms.
GC_SUMMARY=$(grep -h 'Pause' "$T/gc.log" 2>/dev/null | awk '{ n++; if ($0 ~ /Pause Full/) f++; ms = $NF; sub(/ms$/, "", ms)
  s += ms; if (ms + 0 > m) m = ms + 0 } END { printf "%d pauses (%d full), %.0f ms in all, longest %.1f ms", n, f, s, m }')

# --- the plateau verdict -------------------------------------------------------------------------------------------
# The samples taken while the load ran, split by time into thirds: the first is the warm-up (the JIT, the heap
# growing to the size the load needs); a proxy that holds its memory has the same RSS in the middle and the last third.
LOAD_SAMPLES="$T/load-samples.tsv"
awk -F'\t' -v d="$LOAD_S" '$1 <= d + 1' "$T/samples.tsv" >"$LOAD_SAMPLES"
median_of() { # median_of COLUMN FROM TO: the median of a column over the load samples with FROM <= t < TO
  awk -F'\t' -v c="$1" -v a="$2" -v b="$3" '$1 >= a && $1 < b && $c != "-" { print $c }' "$LOAD_SAMPLES" | sort -n \
    | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# Thirds of the planned duration, as the forced full GCs; the last third also holds the time a late client took.
THIRD=$(awk -v d="$DURATION_S" 'BEGIN { printf "%.1f", d / 3 }')
TWO_THIRDS=$(awk -v d="$DURATION_S" 'BEGIN { printf "%.1f", 2 * d / 3 }')
END_T=$((LOAD_S + 1))
growth() { # growth FROM_VALUE TO_VALUE: percent
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a <= 0) print "-"; else printf "%+.1f", 100 * (b - a) / a }'
}
declare -A MID LAST
for c in 2 3 4 5 6; do
  MID[$c]=$(median_of "$c" "$THIRD" "$TWO_THIRDS")
  LAST[$c]=$(median_of "$c" "$TWO_THIRDS" "$END_T")
done
RSS_GROWTH=$(growth "${MID[2]}" "${LAST[2]}")
SAMPLES_MID=$(awk -F'\t' -v a="$THIRD" -v b="$TWO_THIRDS" '$1 >= a && $1 < b' "$LOAD_SAMPLES" | wc -l)
SAMPLES_LAST=$(awk -F'\t' -v a="$TWO_THIRDS" -v b="$END_T" '$1 >= a && $1 < b' "$LOAD_SAMPLES" | wc -l)
if [ "$RSS_GROWTH" = - ] || [ "$SAMPLES_MID" -lt 3 ] || [ "$SAMPLES_LAST" -lt 3 ]; then
  PLATEAU="not judged (too few samples: $SAMPLES_MID and $SAMPLES_LAST)"
  fail "RSS plateau $PLATEAU"
elif awk -v g="$RSS_GROWTH" -v m="$MAX_GROWTH_PCT" 'BEGIN { exit !(g < m) }'; then
  PLATEAU="yes: the median RSS of the last third is ${RSS_GROWTH}% against the middle third's (bound: under +${MAX_GROWTH_PCT}%)"
else
  PLATEAU="NO: the median RSS of the last third is ${RSS_GROWTH}% against the middle third's (bound: under +${MAX_GROWTH_PCT}%)"
  # The committed heap over the same thirds tells a JVM that is still growing its heap from a leak (see the live heap).
  fail "RSS did not plateau: ${MID[2]} MB (median, middle third) -> ${LAST[2]} MB (median, last third), ${RSS_GROWTH}%; heap committed ${MID[4]} -> ${LAST[4]} MB (RSS grows while the JVM first touches its heap; PROXY_JVM_FLAGS=\"-Xms1g -Xmx1g -XX:+UseParallelGC -XX:+AlwaysPreTouch\" touches it all at start, so that RSS shows only native memory)"
fi
# The live heap after each forced full GC, in order: where the middle third begins, where the last third begins, just
# before the load ended, after it (MB).
mapfile -t LIVE < <(grep -E 'Pause Full \((Diagnostic Command|System.gc\(\))\)' "$T/gc.log" 2>/dev/null | grep -o '[0-9]*[KMG]->[0-9]*[KMG]' \
  | sed 's/.*->//' | while read -r v; do to_mb "$v"; done)
if [ "${#LIVE[@]}" = 4 ]; then
  LIVE_GROWTH=$(growth "${LIVE[1]}" "${LIVE[2]}")
  LIVE_GROWTH_MB=$((LIVE[2] - LIVE[1]))
  if [ "$LIVE_GROWTH_MB" -lt "$MAX_LIVE_GROWTH_MB" ]; then
    LIVE_VERDICT="yes: ${LIVE[1]} MB where the last third began, ${LIVE[2]} MB at its end (${LIVE_GROWTH_MB} MB; bound: under ${MAX_LIVE_GROWTH_MB} MB)"
  else
    LIVE_VERDICT="NO: ${LIVE[1]} MB where the last third began, ${LIVE[2]} MB at its end (+${LIVE_GROWTH_MB} MB; bound: under ${MAX_LIVE_GROWTH_MB} MB)"
    fail "the live heap grew over the last third: ${LIVE[1]} MB -> ${LIVE[2]} MB after a full GC"
  fi
else
  LIVE_VERDICT="not judged: $(cat "$T/full-gc.err" 2>/dev/null | tr '\n' ' ')${#LIVE[@]} of 4 forced full GCs in the GC log"
  warn "live heap $LIVE_VERDICT"
fi
RSS_START=$(head -1 "$T/samples.tsv" | cut -f2)
RSS_PEAK=$(cut -f2 "$T/samples.tsv" | sort -n | tail -1)
RSS_END=$(tail -1 "$T/samples.tsv" | cut -f2)

# --- report --------------------------------------------------------------------------------------------------------
DATE=$(date -u +%Y-%m-%d)
CORES=$(nproc)
MIN_TAG=$(awk -v s="$DURATION_S" 'BEGIN { m = s / 60; if (m == int(m)) printf "%d", m; else printf "%.1f", m }')
BASE="soak-$DATE-${CORES}cores-jdk$JDK_MAJOR-${MIN_TAG}min$([ "$SHORT" = 1 ] && echo -short)"
OUT=${OUT:-$ROOT/bench/results}
mkdir -p "$OUT"
REPORT="$OUT/$BASE.md"
cores_of() { awk -v t="$1" -v hz="$CLK_TCK" -v s="$LOAD_S" 'BEGIN { if (s <= 0) s = 1; printf "%.2f", t / hz / s }'; }
OTHER_TICKS=$(( BUSY_TICKS - PROXY_TICKS - MOCK_TICKS - CLIENT_TICKS ))
[ "$OTHER_TICKS" -ge 0 ] || OTHER_TICKS=0
cp "$T/samples.tsv" "$OUT/$BASE.tsv"
CHART=
if [ -n "$GNUPLOT" ]; then
  if "$GNUPLOT" -e "samples='$T/samples.tsv'; out='$OUT/$BASE.png'; heading='PowerProxy soak, $DATE, $CORES cores, JDK $JDK_VERSION: ${MIN_TAG} min$([ "$SHORT" = 1 ] && echo ' (SHORT RUN)')'; third=$THIRD; twothirds=$TWO_THIRDS" \
      bench/soak.gp >"$T/gnuplot.log" 2>&1; then
    CHART="$BASE.png"
  else
    cat "$T/gnuplot.log" >&2
    warn "gnuplot failed: no chart"
  fi
fi
{
  echo "# PowerProxy soak, $DATE ($CORES cores, JDK $JDK_VERSION): $MIN_TAG minutes"
  echo
  if [ "$SHORT" = 1 ]; then
    echo "> **A SHORT RUN** ($MIN_TAG minutes, \`SOAK_MINUTES=$MINUTES\`): it shows that the soak works and what the numbers look like,"
    echo "> not that memory holds over time. The soak proper is \`make soak\` (${FULL_MINUTES} minutes)."
    echo
  fi
  echo "**Verdict: $([ ${#FAILURES[@]} = 0 ] && echo "held" || echo "FAILED (${#FAILURES[@]} failures, listed at the end)").** RSS plateau: $PLATEAU."
  echo "Live heap flat: $LIVE_VERDICT."
  echo
  echo "- **Load** for $LOAD_S s, all at once: $LOAD_DESC. Three teams' keys in turn; bench/LoadClient.java (open loop,"
  echo "  $NS_CONNECTIONS connections) and bench/StreamClient.java (each stream followed by the next on its connection)."
  echo "- **Proxy:** \`java $PROXY_JVM_FLAGS -jar target/powerproxy.jar\`; plugins AllowDeployments, LimitUsage (budgets of"
  echo "  10^9 tokens a minute, never reached), LogUsageToCsvFile; 2 endpoints, both bench/MockAzure.java in a process of its own."
  echo "- **Machine:** $CORES cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(free -h | awk '/^Mem:/ {print $2}') RAM,"
  echo "  load average $LOAD_START_LOADAVG at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end. CPU over the load, in cores:"
  echo "  proxy $(cores_of "$PROXY_TICKS"), mock $(cores_of "$MOCK_TICKS"), load clients $(cores_of "$CLIENT_TICKS"), other work on the machine $(cores_of "$OTHER_TICKS")."
  echo
  echo "## Answers, errors and usage rows"
  echo
  echo "| what | value |"
  echo "| --- | --- |"
  [ -n "$NS_PID" ] && echo "| non-streaming | $(client_line "$T/ns.txt") |"
  [ -n "$STREAM_PID" ] && echo "| streams | $(client_line "$T/streams.txt") |"
  [ -n "$LARGE_PID" ] && echo "| large bodies | $(client_line "$T/large.txt") |"
  echo "| answers the clients got | **$ANSWERED** ($CLIENT_NON2XX non-2xx), transport errors and unfinished streams: **$CLIENT_ERRORS**$([ -n "$STREAM_PID" ] && echo ", events lost: **$EVENTS_LOST**") |"
  echo "| the proxy's access log | $ACCESS_LINES lines; by status: ${ACCESS_BY_STATUS:-none} |"
  echo "| usage rows (CSV) | **$USAGE_ROWS** (by status_code: ${ROWS_BY_STATUS:-none}); $ROWS_BEFORE_STOP of them written before the SIGTERM |"
  echo "| rows vs answers | $([ "$USAGE_ROWS" = "$ANSWERED" ] && echo "equal" || echo "**NOT equal**: $((USAGE_ROWS - ANSWERED))"); by request id: $ROWS_MISSING access-log requests without a row, $ROWS_WITHOUT_ACCESS rows without an access line, $ROWS_DUPLICATE ids with two rows |"
  echo "| proxy log | $PROXY_ERRORS ERROR, $PROXY_WARNS WARN lines |"
  echo "| SIGTERM after the load | exit code $STOP_CODE after $STOP_MS ms |"
  echo
  echo "## Memory and resources over time"
  echo
  echo "| what | after start | middle third (median) | last third (median) | change | peak | end |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  first=$(head -1 "$T/samples.tsv")
  for c in 2 4 3 5 6; do
    case $c in 2) name="RSS MB" ;; 3) name="heap after the latest GC MB" ;; 4) name="heap committed MB" ;; 5) name="threads" ;;
      6) name="open file descriptors" ;; esac
    peak=$(cut -f"$c" "$LOAD_SAMPLES" | grep -v '^-$' | sort -n | tail -1)
    echo "| $name | $(echo "$first" | cut -f"$c") | ${MID[$c]} | ${LAST[$c]} | $(growth "${MID[$c]}" "${LAST[$c]}")% | ${peak:--} | $(tail -1 "$T/samples.tsv" | cut -f"$c") |"
  done
  echo
  if [ "${#LIVE[@]}" = 4 ]; then
    echo "Live heap after a forced full GC (\`jcmd GC.run\`): ${LIVE[0]} MB where the middle third began, ${LIVE[1]} MB where the"
    echo "last third began, ${LIVE[2]} MB 5 s before the load ended, ${LIVE[3]} MB after it (nothing in flight)."
    echo
  fi
  echo "GC ($PROXY_JVM_FLAGS): $GC_SUMMARY, 4 of the full ones forced by the soak. \"Heap after the latest GC\" is read from"
  echo "the GC log (-Xlog:gc), so no sample attaches to the proxy; after a young collection it includes the old generation's"
  echo "garbage until the next full one, so it climbs between full collections and says little about leaks by itself."
  echo
  echo "Rules: the load is cut into thirds by time; the first is warm-up (the JIT, the heap growing to what the load"
  echo "needs). **RSS**: the median of the last third must exceed the median of the middle third by less than"
  echo "${MAX_GROWTH_PCT}%. Medians, because single samples swing with GC cycles; at a steady load a JVM's RSS stops growing"
  echo "once its heap has the size the load needs, while a native leak (threads, direct buffers, sockets) keeps adding. Over"
  echo "the 30-minute soak ${MAX_GROWTH_PCT}% in 10 minutes is above what a steady process wobbles, and a leak that stays under"
  echo "it would need hours to show. **Live heap**: the heap after the full GC 5 s before the load ended may exceed the one"
  echo "where the last third began by less than ${MAX_LIVE_GROWTH_MB} MB, which is more than the requests in flight at either"
  echo "moment hold (a few MB), and less than a leak of $(awk -v mb="$MAX_LIVE_GROWTH_MB" -v n="$ANSWERED" \
    'BEGIN { if (n > 0) printf "%.0f", mb * 1048576 / (n / 3); else printf "?" }') bytes a request adds over the last third of this run's $ANSWERED answers."
  echo
  [ -n "$CHART" ] && { echo "![soak chart]($CHART)"; echo; }
  echo "Samples (every ${SAMPLE_S}s; all of them in [$BASE.tsv]($BASE.tsv)). CPU: % of one core since the previous sample;"
  echo "machine: % of all $CORES cores busy, whoever used them. Rows/s: usage rows written since the previous sample."
  echo
  echo "| t (s) | RSS MB | heap after GC MB | heap committed MB | threads | fds | proxy CPU % | mock CPU % | machine busy % | rows/s |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  n=$(wc -l <"$T/samples.tsv")
  awk -F'\t' -v n="$n" 'BEGIN { k = int((n + 29) / 30); if (k < 1) k = 1 }
    { rate = (NR > 1 && $1 > pt) ? ($10 - pr) / ($1 - pt) : 0
      if ((NR - 1) % k == 0 || NR == n)
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, rate
      pt = $1; pr = $10 }' "$T/samples.tsv"
  echo
  echo "Rows/s is over the interval before each listed sample; the last sample is taken 2 s after the load ended."
  if [ ${#WARNINGS[@]} -gt 0 ] || [ ${#FAILURES[@]} -gt 0 ]; then
    echo
    for w in "${WARNINGS[@]}"; do echo "- warning: $w"; done
    for f in "${FAILURES[@]}"; do echo "- **FAILED**: $f"; done
  fi
} >"$REPORT"
echo
cat "$REPORT"
echo
log "results: $REPORT${CHART:+ and $OUT/$CHART}"
if [ ${#FAILURES[@]} -gt 0 ]; then
  echo "soak: ${#FAILURES[@]} failure(s):" >&2
  printf '  - %s\n' "${FAILURES[@]}" >&2
  exit 1
fi
exit 0
