# shellcheck shell=bash
# Streams over TLS to an upstream that speaks HTTP/2, for bench/run.sh (sourced; main calls measure_streams_h2 after
# the other streaming runs). It uses run.sh's settings and helpers (T, PIDS, JAVA, TOOL, KEYSTORE, PROXY_JVM_FLAGS,
# write_config, start_proxy, sample_rss, record, fail, ...).
#
# The upstream is bench/h2mock.mjs (Node's built-in http2 module, the same SSE as bench/MockAzure.java, h2 or
# HTTP/1.1 by ALPN). Two proxies with the bench's JVM flags stream from it in turn: one with `connections.http2: true`
# (all streams on one connection) and one without (HTTP/1.1 over TLS, a connection per stream, the default). Rows
# "proxy-h2" and "proxy-tls-h1" go into the streaming table beside the main ones, with their peak RSS. The mock
# announces no practical stream limit: the JDK client fails every request beyond a server's limit (README "8. Server
# and client settings"). Skipped, with a warning, when node is not installed.
measure_streams_h2() {
  local node gap levels mock_port mock_pid variant http2 config port pid n ramp out rc t_start t_end result
  node=$(command -v node 2>/dev/null) || { warn "node is not installed: no HTTP/2 streaming rows"; return 0; }
  gap=${H2_STREAM_GAP_MS:-$([ "$MODE" = smoke ] && echo 100 || echo 500)}
  levels=${H2_STREAM_LEVELS:-$([ "$MODE" = smoke ] && echo 50 || echo 1000)}
  mock_port=$(free_port)
  "$node" bench/h2mock.mjs --port "$mock_port" --pfx "$KEYSTORE" --passphrase changeit --event-interval-ms "$gap" \
    --chunks "$CHUNKS" --max-streams 1000000 >"$T/h2mock.log" 2>&1 &
  mock_pid=$!
  PIDS+=("$mock_pid")
  if ! wait_for_line "$T/h2mock.log" "h2mock ready on port $mock_port" "$mock_pid" 30; then
    cat "$T/h2mock.log" >&2
    fail "the HTTP/2 mock (bench/h2mock.mjs) did not start"
    return 0
  fi
  for variant in proxy-h2 proxy-tls-h1; do
    http2=false
    [ "$variant" = proxy-h2 ] && http2=true
    config="$T/config-$variant.yaml"
    CFG_SCHEME=https CFG_PORT1=$mock_port CFG_PORT2=$mock_port CFG_TUNED=1
    write_config "$config" "$BASE_PLUGINS
  - name: LogUsageToCsvFile
    log_dir: $T/usage-$variant"
    CFG_SCHEME=http CFG_PORT1=$MOCK_PORT1 CFG_PORT2=$MOCK_PORT2
    sed -i "/^      connections:\$/a\\        http2: $http2" "$config"
    validate_config "$config"
    port=$(free_port)
    if ! start_proxy "$PROXY_JVM_FLAGS $GC_LOG_FLAGS:file=$T/proxy-$variant-gc.log -Djavax.net.ssl.trustStore=$T/bench-trust.p12 -Djavax.net.ssl.trustStorePassword=changeit" \
        "$T/proxy-$variant.log" "$port" "$config"; then
      tail -20 "$T/proxy-$variant.log" >&2
      fail "the $variant proxy did not start"
      continue
    fi
    pid=$STARTED_PID
    sample_rss "$pid" "$T/rss-$variant.log"
    PIDS+=("$SAMPLER_PID")
    # One stream first: until a first h2 connection is pooled, the JDK client opens one per request. Only a warm-up:
    # the measured streams below tell whether the proxy works.
    $TOOL StreamClient --port "$port" --streams 1 --duration-s 0.2 --ramp-s 0.1 --event-interval-ms 1 --drain-s 60 \
      --expect-events "$EXPECT_EVENTS" --path "$API_PATH" >"$T/stream-h2-first-$variant.txt" 2>&1 \
      || warn "the first stream through $variant did not end well: $(tr '\n' ' ' <"$T/stream-h2-first-$variant.txt" | tail -c 300)"
    for n in $levels; do
      ramp=$(awk -v n="$n" 'BEGIN { r = n / 1250; if (r < 0.2) r = 0.2; print r }')
      fits "$(awk -v r="$ramp" -v d="$STREAM_SECONDS" -v c="$CHUNKS" -v g="$gap" 'BEGIN { printf "%d", r + d + c * g / 1000 + 10 }')" \
        "$n streams through $variant" || break
      out="$T/stream-h2-$n-$variant.txt"
      log "streaming over TLS from the HTTP/2 mock: $n streams, $variant (connections.http2: $http2), events ${gap} ms apart"
      TARGET_PID=$pid
      cpu_begin
      t_start=$EPOCHREALTIME
      # At least 30 s to finish: a busy machine made the 50 TLS handshakes and first streams of a smoke run take 10 s.
      $TOOL StreamClient --port "$port" --streams "$n" --duration-s "$STREAM_SECONDS" --ramp-s "$ramp" \
        --drain-s "$(( STREAM_DRAIN < 30 ? 30 : STREAM_DRAIN ))" --expect-events "$EXPECT_EVENTS" --path "$API_PATH" --event-interval-ms "$gap" \
        >"$out" 2>&1
      rc=$?
      t_end=$EPOCHREALTIME
      cpu_end
      TARGET_PID=
      result="$(grep -m1 '^streams=' "$out") $CPU_RESULT rss_peak_kb=$(awk -v a="$t_start" -v b="$t_end" \
        '$1 >= a && $1 <= b && $2 > m { m = $2 } END { print m + 0 }' "$T/rss-$variant.log")"
      record "stream-$n-$gap" "$variant" 1 "$result"
      printf '    %-12s %s\n' "$variant" "$result" >&2
      [ "$rc" = 0 ] || fail "$n streams through $variant: errors, non-2xx, lost events or unfinished streams: $(tr '\n' ' ' <"$out" | tail -c 400)"
    done
    stop_proxy "$pid"
    [ "$STOP_CODE" = 0 ] || fail "the $variant proxy exited with $STOP_CODE on SIGTERM (expected 0)"
    if grep -q ' ERROR ' "$T/proxy-$variant.log"; then
      grep -m5 ' ERROR ' "$T/proxy-$variant.log" >&2
      fail "the $variant proxy logged ERROR lines"
    fi
  done
  kill -TERM "$mock_pid" 2>/dev/null
  wait "$mock_pid" 2>/dev/null
  forget_pid "$mock_pid"
  # Requests and streams by protocol, and TLS connections: h2 carries its streams on one.
  meta h2_mock_stats "$(sed -n 's/^h2mock stats //p' "$T/h2mock.log")"
  log "    HTTP/2 mock: $(sed -n 's/^h2mock stats //p' "$T/h2mock.log")"
}
