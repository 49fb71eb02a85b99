#!/bin/sh
# Makes the container image's AOT cache (JDK 25+, JEP 514) in the build stage: the proxy runs the training load of
# Train.java for a while, in front of a second proxy answering from its built-in mock, on the same
# runtime, jar path and GC as the image's ENTRYPOINT; on its exit the JVM writes the cache. Writes the JVM options
# file the ENTRYPOINT reads (@/app/jvm.options): the cache's option, or nothing when the runtime cannot make one
# (JDK 21-24; the cache file is then empty and unused), so the image works either way. POSIX sh: the build image may only have busybox.
# Usage: train.sh JAVA_FOR_THE_PROXY JAVA_FOR_THE_CLIENT JAR OUT_DIR SECONDS
set -eu
java=$1 client_java=$2 jar=$3 out=$4 seconds=$5
here=$(cd "$(dirname "$0")" && pwd)
flags="-XX:MaxRAMPercentage=75 -XX:+UseZGC"
: >"$out/jvm.options"
: >"$out/powerproxy.aot"
if ! "$java" -XX:AOTCacheOutput=/tmp/probe.aot -version >/dev/null 2>&1; then
  echo "train.sh: this runtime cannot write an AOT cache (JDK 25 or newer can); the image runs without one"
  exit 0
fi
# The upstream: a proxy answering from its built-in mock (upstream.yaml).
"$java" $flags -jar "$jar" --port 18081 --config-file "$here/upstream.yaml" >/tmp/aot-upstream.log 2>&1 &
upstream=$!
# shellcheck disable=SC2086
"$java" $flags -XX:AOTCacheOutput="$out/powerproxy.aot" -jar "$jar" --port 18080 --config-file "$here/training.yaml" \
  >/tmp/aot-training.log 2>&1 &
proxy=$!
if ! "$client_java" "$here/Train.java" 18080 "$seconds" training-key-not-a-secret; then
  tail -20 /tmp/aot-training.log /tmp/aot-upstream.log
  kill "$proxy" "$upstream" 2>/dev/null || true
  exit 1
fi
# SIGTERM: the proxy stops as in production, and the JVM writes the cache as it exits.
kill -TERM "$proxy"
wait "$proxy" || true
kill -TERM "$upstream"
wait "$upstream" || true
if [ ! -s "$out/powerproxy.aot" ]; then
  tail -20 /tmp/aot-training.log
  echo "train.sh: no AOT cache was written" >&2
  exit 1
fi
echo "-XX:AOTCache=/app/powerproxy.aot" >"$out/jvm.options"
echo "train.sh: AOT cache of $(($(wc -c <"$out/powerproxy.aot") / 1048576)) MB written"
