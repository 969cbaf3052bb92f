#!/usr/bin/env bash
# metrics.sh                     (otpsv only; SPEC §9, issue 10's numbers)
#
# One daemon with METRICS_WORKERS (default 1000) process workers
# (bench-worker, no probes) and `settings.metrics: unix:RUNDIR/metrics.sock`.
# Once all have started and METRICS_SETTLE s (10) have passed:
#   idle_cpu     otpsv's utime+stime over METRICS_IDLE s (30) with no scrape
#                at all, as seconds and as % of one core (target: ~0)
#   scrape_first the first scrape ever (cold), ms
#   scrape       METRICS_SCRAPES (30) full /metrics scrapes with curl, and
#   scrape_gzip  as many with `Accept-Encoding: gzip`, the two interleaved:
#                curl's time_total, p50 and max in ms (target: under 50 ms);
#                bytes on the wire; the daemon's CPU per scrape over the
#                burst (clock ticks, so +-10 ms / 2N)
#   window_cpu   otpsv's CPU over another METRICS_IDLE s with one gzip
#                scrape every METRICS_EVERY s (5), as a scraper would;
#                per_scrape_cpu = (window_cpu - idle_cpu) / scrapes
#   rss          VmRSS after the settle (before any scrape) and at the end,
#                VmHWM at the end
# Without curl the scrapes are skipped (idle CPU and RSS only).
#
# Output: otpsv.metrics.* lines, "metric value unit".
# Usage: OTPSV=/path/to/otpsv ./metrics.sh
set -u
. "$(dirname "$0")/lib.sh"
PEER=otpsv
ensure_built
reexec_under_reaper "$@"

OTPSV=${OTPSV:-otpsv}
METRICS_WORKERS=${METRICS_WORKERS:-1000}
METRICS_SCRAPES=${METRICS_SCRAPES:-30}
METRICS_IDLE=${METRICS_IDLE:-30}
METRICS_EVERY=${METRICS_EVERY:-5}
METRICS_SETTLE=${METRICS_SETTLE:-10}
SCALE_TIMEOUT=${SCALE_TIMEOUT:-120}
CLK_TCK=$(getconf CLK_TCK)

# secs T0 T1: clock ticks between two readings, in seconds
secs() { awk -v a="$1" -v b="$2" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }'; }
pct() { awk -v c="$1" -v w="$2" 'BEGIN { printf "%.2f", 100 * c / w }'; }
# sched PID: on-CPU seconds summed over the live threads (ns precision; a
# cross-check of the tick counts, which are too coarse for one scrape)
sched() { "$BENCH_TOOL" procstat "$1" | awk '{ print $6 }'; }

# scrape RUNDIR [gzip [BODYFILE]]: one GET /metrics on the unix socket;
# prints "time_total_ms bytes http_code" (bytes as sent: compressed with gzip)
scrape() {
	local hdr=()
	[[ ${2:-} == gzip ]] && hdr=(-H 'Accept-Encoding: gzip')
	curl -s --max-time 10 --unix-socket "$1/metrics.sock" "${hdr[@]}" -o "${3:-/dev/null}" \
		-w '%{time_total} %{size_download} %{http_code}\n' http://otpsv/metrics |
		awk '{ printf "%.3f %d %s\n", $1 * 1000, $2, $3 }'
}

# sleep_until EPOCHREALTIME: sleep until that moment (at once if past)
sleep_until() {
	local d
	d=$(awk -v t="$1" -v n="$EPOCHREALTIME" 'BEGIN { d = t - n; if (d > 0) printf "%.3f", d }')
	[[ -n $d ]] && sleep "$d"
	return 0
}

alive_or_die() { [[ -n $(comm_of "$sv") ]] || die "otpsv exited $1 (see $rd/sv.log)"; }

header
have_curl=1
command -v curl >/dev/null || have_curl=
note "workers=$METRICS_WORKERS settle=${METRICS_SETTLE}s idle=${METRICS_IDLE}s scrapes=$METRICS_SCRAPES(+gzip) every=${METRICS_EVERY}s clk_tck=$CLK_TCK"
[[ -n $have_curl ]] || note "no curl: the scrapes are skipped (idle CPU and RSS only)"

n=$METRICS_WORKERS
new_rundir metrics
rd=$RD
metrics_workers_config "$rd" "$n"
"$OTPSV" validate --config "$rd/otpsv.yaml" >/dev/null || die "otpsv rejects $rd/otpsv.yaml"
launch "$rd" "$OTPSV" daemon --log-format json --config "$rd/otpsv.yaml" --state-dir "$rd/state"
sv=$(main_pid "$rd")
if ! "$BENCH_TOOL" wait-lines -file "$rd/starts.log" -n "$n" -timeout "${SCALE_TIMEOUT}s" >/dev/null; then
	die "only $(wc -l <"$rd/starts.log") of $n workers started within ${SCALE_TIMEOUT}s (see $rd/sv.log)"
fi
sleep "$METRICS_SETTLE"
alive_or_die "after the start"
# only the socket's existence: a test scrape would warm up what idle_cpu
# is meant to show without any scrape
[[ -S $rd/metrics.sock ]] || die "no metrics socket $rd/metrics.sock (see $rd/sv.log)"
rss0=$(kib "$sv" VmRSS)
p=metrics.n$n

# ---------------------------------------------------------------------
# 1. idle, no scrape
c0=$(ticks "$sv") s0=$(sched "$sv")
sleep "$METRICS_IDLE"
alive_or_die "in the idle window"
c1=$(ticks "$sv") s1=$(sched "$sv")
idle=$(secs "$c0" "$c1")
idle_sched=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.4f", b - a }')
emit "$p.idle_cpu" "$idle" "s/${METRICS_IDLE}s"
emit "$p.idle_cpu_pct" "$(pct "$idle" "$METRICS_IDLE")" "%"
note "idle on-CPU time from schedstat: $idle_sched s"

if [[ -n $have_curl ]]; then
	# -----------------------------------------------------------------
	# 2. scrape wall time: the cold one, then plain and gzip interleaved
	read -r ms bytes code < <(scrape "$rd" plain "$rd/metrics.txt")
	[[ $code == 200 ]] || die "GET /metrics answered ${code:-nothing} (see $rd/sv.log)"
	emit "$p.scrape_first" "$ms" ms
	note "exposition: $bytes bytes, $(grep -vc '^#' "$rd/metrics.txt") samples, $(grep -c '^# TYPE' "$rd/metrics.txt") families"
	plain=() gz=() plain_bytes=$bytes gz_bytes=0 bad=0
	c0=$(ticks "$sv") s0=$(sched "$sv")
	for ((i = 1; i <= METRICS_SCRAPES; i++)); do
		read -r ms bytes code < <(scrape "$rd" plain)
		if [[ $code == 200 ]]; then plain+=("$ms"); else bad=$((bad + 1)); fi
		read -r ms bytes code < <(scrape "$rd" gzip)
		if [[ $code == 200 ]]; then gz+=("$ms") gz_bytes=$bytes; else bad=$((bad + 1)); fi
	done
	c1=$(ticks "$sv") s1=$(sched "$sv")
	alive_or_die "during the scrapes"
	((bad == 0)) || note "WARNING: $bad scrapes did not answer 200"
	read -r _ _ pp50 _ pmax _ < <(printf '%s\n' "${plain[@]}" | stats)
	read -r _ _ gp50 _ gmax _ < <(printf '%s\n' "${gz[@]}" | stats)
	emit "$p.scrape_p50" "$pp50" ms
	emit "$p.scrape_max" "$pmax" ms
	emit "$p.scrape_gzip_p50" "$gp50" ms
	emit "$p.scrape_gzip_max" "$gmax" ms
	emit "$p.scrape_bytes" "$plain_bytes" bytes
	emit "$p.scrape_gzip_bytes" "$gz_bytes" bytes
	k=$((${#plain[@]} + ${#gz[@]}))
	if ((k > 0)); then
		emit "$p.scrape_cpu" "$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" -v k="$k" 'BEGIN { printf "%.2f", 1000 * (b - a) / t / k }')" ms/scrape
		note "the same from schedstat: $(awk -v a="$s0" -v b="$s1" -v k="$k" 'BEGIN { printf "%.2f", 1000 * (b - a) / k }') ms/scrape over $k scrapes"
	fi
	awk -v a="$pp50" -v b="$gp50" 'BEGIN { exit !(a >= 50 || b >= 50) }' &&
		note "WARNING: scrape p50 of 50 ms or more (issue 10's target: under 50 ms)"

	# -----------------------------------------------------------------
	# 3. the same window as idle, one gzip scrape every METRICS_EVERY s
	k=0 bad=0
	c0=$(ticks "$sv") s0=$(sched "$sv")
	start=$EPOCHREALTIME
	for ((i = 0; i * METRICS_EVERY < METRICS_IDLE; i++)); do
		sleep_until "$(awk -v s="$start" -v i="$i" -v e="$METRICS_EVERY" 'BEGIN { printf "%.6f", s + i * e }')"
		read -r _ _ code < <(scrape "$rd" gzip)
		[[ $code == 200 ]] || bad=$((bad + 1))
		k=$((k + 1))
	done
	sleep_until "$(awk -v s="$start" -v w="$METRICS_IDLE" 'BEGIN { printf "%.6f", s + w }')"
	c1=$(ticks "$sv") s1=$(sched "$sv")
	alive_or_die "in the scrape window"
	((bad == 0)) || note "WARNING: $bad window scrapes did not answer 200"
	win=$(secs "$c0" "$c1")
	emit "$p.window_cpu" "$win" "s/${METRICS_IDLE}s"
	emit "$p.window_cpu_pct" "$(pct "$win" "$METRICS_IDLE")" "%"
	emit "$p.window_scrapes" "$k" count
	emit "$p.per_scrape_cpu" "$(awk -v w="$win" -v i="$idle" -v k="$k" 'BEGIN { printf "%.1f", 1000 * (w - i) / k }')" ms/scrape
	note "the same from schedstat: window $(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.4f", b - a }') s," \
		"$(awk -v a="$s0" -v b="$s1" -v i="$idle_sched" -v k="$k" 'BEGIN { printf "%.2f", 1000 * (b - a - i) / k }') ms/scrape"
fi

rss1=$(kib "$sv" VmRSS) hwm=$(kib "$sv" VmHWM)
emit "$p.rss_start" "$(mib "$rss0")" MiB
emit "$p.rss_end" "$(mib "$rss1")" MiB
emit "$p.hwm" "$(mib "$hwm")" MiB
awk -v c="$idle" -v w="$METRICS_IDLE" 'BEGIN { exit !(100 * c / w >= 0.5) }' &&
	note "WARNING: otpsv used $idle s of CPU in ${METRICS_IDLE}s with no scrape (target: ~0)"
finish_run "$rd"
