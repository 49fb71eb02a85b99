# Sourced by bench/run.sh: what scraping /powerproxy/metrics costs the request path.

# The main proxy at its max rate (as in measure_max_rate) without a scraper and with one that polls
# /powerproxy/metrics every second (15 times as often as Prometheus' default interval), interleaved, in one run.
# Records "scrape unscraped|scraped <rep> rps=.. requests=.. cpu_proxy_s=.. scrapes=.." for the report.
measure_scrape_cost() {
  local secs=$NS_SECONDS rep variant scraper rc result ok total
  [ "$secs" -lt 2 ] && secs=2
  fits $(( secs * 2 * REPEATS + 2 )) "the metrics scrape cost" || return 0
  log "metrics scrape cost: max rate without and with a scraper polling /powerproxy/metrics every 1 s, ${secs}s x $REPEATS"
  for rep in $(seq 1 "$REPEATS"); do
    for variant in unscraped scraped; do
      scraper=
      : >"$T/scrapes-$rep.txt"
      if [ "$variant" = scraped ]; then
        ( while :; do scrape_metrics_status >>"$T/scrapes-$rep.txt"; sleep 1; done ) &
        scraper=$!
      fi
      cpu_begin
      max_rate_run "$PROXY_PORT" "$secs" "$T/scrape-$variant-$rep.txt" >"$T/result.txt"
      rc=$?
      cpu_end
      if [ -n "$scraper" ]; then kill "$scraper" 2>/dev/null; wait "$scraper" 2>/dev/null; fi
      ok=$(grep -c '^200$' "$T/scrapes-$rep.txt"); total=$(grep -c . "$T/scrapes-$rep.txt")
      result="$(cat "$T/result.txt") $CPU_RESULT scrapes=$ok"
      record scrape "$variant" "$rep" "$result"
      printf '    %-10s #%s %s\n' "$variant" "$rep" "$result" >&2
      [ "$rc" = 0 ] || fail "max-rate run against the proxy ($variant, #$rep) had errors: $result"
      if [ "$variant" = scraped ] && { [ "$ok" -lt 1 ] || [ "$ok" != "$total" ]; }; then
        fail "scraping /powerproxy/metrics under load (#$rep): $ok of $total scrapes answered 200"
      fi
    done
  done
  meta scrape_seconds "$secs"
  meta scrape_repeats "$REPEATS"
}

# The status code of one GET /powerproxy/metrics with a client key of the bench's config (the body is read and dropped).
scrape_metrics_status() {
  { exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT" \
      && printf 'GET /powerproxy/metrics HTTP/1.1\r\nHost: x\r\napi-key: bench-key-team-a-0123456789\r\nConnection: close\r\n\r\n' >&3 \
      && cat <&3; } 2>/dev/null | head -1 | tr -d '\r' | awk '{ print $2 }'
}
