#!/usr/bin/env bash
# health.sh                      (otpsv only; SPEC §6, issue 9's numbers)
#
# 1. Probes at scale: HEALTH_WORKERS (default 1000) process workers
#    (bench-worker), each with an HTTP liveness probe every 1 s against one
#    local endpoint (healthfix -http, a separate process, not counted).
#    Once all have started and HEALTH_SETTLE s (10) have passed, over
#    HEALTH_SECONDS s (60; 600 for the 10-minute growth check):
#      cpu        otpsv's utime+stime (clock ticks of /proc/PID/stat), as
#                 seconds and as % of one core (target: under 5%)
#      rss        VmRSS at the start, max of 1 s samples, VmHWM at the end
#                 (target: under 96 MiB)
#      fds, threads, goroutines  at the start and the end (target: no
#                 growth; goroutines from the daemon's /metrics)
#      probe_requests  requests the endpoint served in the window (should
#                 be about workers x seconds), restarts (should be 0)
# 2. Restart latency with ready: notify, the same program throughout: one
#    daemon runs three bench-workers, all writing to one starts.log:
#      plain     ready once spawned
#      notify    -sd-notify with `ready: notify` (READY=1 at once)
#      fd        -notify-fd 3 with `ready: "fd:3"` (s6 style, at once)
#    REPEATS (20) times each, in turn, SIGKILL the worker and measure from
#    CLOCK_REALTIME before kill(2) to:
#      plain_restart   the new instance's start timestamp (as
#                      restart-latency.sh)
#      notify_restart, fd_restart  the time of the daemon's JSON "ready" log
#                      line for the new pid: ready again, as otpsv sees it
#      notify_start, fd_start  the new instance's start timestamp (what the
#                      readiness protocol adds is *_restart - *_start)
#    p50/p95 of each; ratios notify_vs_plain (issue 9's target: at most
#    1.5) and fd_vs_plain. Before each kill SETTLE s (0.2) + random
#    0-999 ms.
#
# Output: otpsv.health.* lines, "metric value unit".
# Usage: OTPSV=/path/to/otpsv ./health.sh
set -u
. "$(dirname "$0")/lib.sh"
PEER=otpsv
ensure_built
HEALTHFIX=${HEALTHFIX:-/tmp/bench-healthfix}
# healthfix is the worker of the black-box tests, in the main module
src=$BENCH_DIR/../test/testdata/healthfix
if [[ ! -x $HEALTHFIX || -n $(find "$src" -name '*.go' -newer "$HEALTHFIX" 2>/dev/null) ]]; then
	(cd "$BENCH_DIR/.." && PATH=/usr/local/go/bin:$PATH go build -o "$HEALTHFIX" ./test/testdata/healthfix) ||
		die "cannot build $src"
fi
export HEALTHFIX
reexec_under_reaper "$@"

OTPSV=${OTPSV:-otpsv}
HEALTH_WORKERS=${HEALTH_WORKERS:-1000}
HEALTH_SETTLE=${HEALTH_SETTLE:-10}
HEALTH_SECONDS=${HEALTH_SECONDS:-60}
SCALE_TIMEOUT=${SCALE_TIMEOUT:-120}
REPEATS=${REPEATS:-20}
SETTLE=${SETTLE:-0.2}
RESTART_TIMEOUT=${RESTART_TIMEOUT:-30}
CLK_TCK=$(getconf CLK_TCK)
# comm of healthfix processes (the kernel keeps 15 characters)
hf_comm=$(basename "$HEALTHFIX")
hf_comm=${hf_comm:0:15}

# healthfix processes this script saw: killed by pid at the end if their
# comm still matches (the daemon stops its workers; the endpoint is ours)
HF_PIDS=()
health_cleanup() {
	cleanup_all
	local p
	for p in "${HF_PIDS[@]}"; do
		[[ $(comm_of "$p") == "$hf_comm" ]] && kill -KILL "$p" 2>/dev/null
	done
	return 0
}
trap health_cleanup EXIT

fds() { local f=(/proc/"$1"/fd/*); echo "${#f[@]}"; }

# http_get PORT PATH: the body of a GET on 127.0.0.1 (bash's /dev/tcp, no curl)
http_get() {
	local body
	exec 9<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&9
	body=$(cat <&9)
	exec 9<&-
	echo "${body##*$'\r\n\r\n'}"
}
requests() { http_get "$1" /stats | awk '$1 == "requests" { print $2 }'; }

# start_daemon RUNDIR: otpsv daemon on RUNDIR/otpsv.yaml, JSON log in sv.log
start_daemon() {
	"$OTPSV" validate --config "$1/otpsv.yaml" >/dev/null || die "otpsv rejects $1/otpsv.yaml"
	launch "$1" "$OTPSV" daemon --log-format json --config "$1/otpsv.yaml" --state-dir "$1/state"
}

# goroutines RUNDIR: go_goroutines from the daemon's metrics socket ("-"
# without curl).
goroutines() {
	command -v curl >/dev/null || { echo -; return; }
	curl -s --max-time 5 --unix-socket "$1/metrics.sock" http://otpsv/metrics | awk '$1 == "go_goroutines" { print $2 }'
}

header
note "workers=$HEALTH_WORKERS settle=${HEALTH_SETTLE}s window=${HEALTH_SECONDS}s repeats=$REPEATS settle=${SETTLE}s+rand(0..1s) clk_tck=$CLK_TCK"

# ---------------------------------------------------------------------
# 1. 1000 workers with an HTTP liveness probe each

n=$HEALTH_WORKERS
new_rundir health
rd=$RD
"$HEALTHFIX" -name endpoint -http 127.0.0.1:0 -env-file "$rd/endpoint.json" </dev/null >"$rd/endpoint.log" 2>&1 &
ep=$!
HF_PIDS+=("$ep")
for _ in $(seq 100); do [[ -s $rd/endpoint.json ]] && break; sleep 0.05; done
port=$(sed -n 's/.*"http":"127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$rd/endpoint.json" 2>/dev/null)
[[ -n $port ]] || die "the endpoint did not start (see $rd/endpoint.log)"
# go_goroutines at the start and the end of the window (growth) come
# from the metrics socket
metrics_workers_config "$rd" "$n" "      probes:
        liveness: {http: \"http://127.0.0.1:$port/live\", period: 1s}"
start_daemon "$rd"
sv=$(main_pid "$rd")
if ! "$BENCH_TOOL" wait-lines -file "$rd/starts.log" -n "$n" -timeout "${SCALE_TIMEOUT}s" >/dev/null; then
	die "only $(wc -l <"$rd/starts.log") of $n workers started within ${SCALE_TIMEOUT}s (see $rd/sv.log)"
fi
sleep "$HEALTH_SETTLE"
[[ -n $(comm_of "$sv") ]] || die "otpsv exited (see $rd/sv.log)"
cpu0=$(ticks "$sv") ep0=$(ticks "$ep") req0=$(requests "$port")
rss0=$(kib "$sv" VmRSS) fds0=$(fds "$sv") thr0=$(kib "$sv" Threads) gor0=$(goroutines "$rd")
lines0=$(wc -l <"$rd/starts.log")
(
	while [[ -d /proc/$sv ]]; do
		kib "$sv" VmRSS
		sleep 1
	done
) >"$rd/rss.samples" &
sampler=$!
sleep "$HEALTH_SECONDS"
[[ -n $(comm_of "$sv") ]] || die "otpsv exited during the window (see $rd/sv.log)"
cpu1=$(ticks "$sv") ep1=$(ticks "$ep") req1=$(requests "$port")
rss1=$(kib "$sv" VmRSS) fds1=$(fds "$sv") thr1=$(kib "$sv" Threads) hwm=$(kib "$sv" VmHWM) gor1=$(goroutines "$rd")
lines1=$(wc -l <"$rd/starts.log")
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null
rss_max=$(sort -n "$rd/rss.samples" | tail -1)
failed=$(grep -c '"msg":"probe failed"' "$rd/sv.log")

p=health.n$n
cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }')
emit "$p.cpu" "$cpu_s" "s/${HEALTH_SECONDS}s"
emit "$p.cpu_pct" "$(awk -v c="$cpu_s" -v w="$HEALTH_SECONDS" 'BEGIN { printf "%.2f", 100 * c / w }')" "%"
emit "$p.rss_start" "$(mib "$rss0")" MiB
emit "$p.rss_max" "$(mib "$rss_max")" MiB
emit "$p.rss_end" "$(mib "$rss1")" MiB
emit "$p.hwm" "$(mib "$hwm")" MiB
emit "$p.fds_start" "$fds0" count
emit "$p.fds_end" "$fds1" count
emit "$p.threads_start" "$thr0" count
emit "$p.threads_end" "$thr1" count
emit "$p.goroutines_start" "$gor0" count
emit "$p.goroutines_end" "$gor1" count
emit "$p.probe_requests" $((req1 - req0)) "count/${HEALTH_SECONDS}s"
emit "$p.restarts" $((lines1 - lines0)) "count/${HEALTH_SECONDS}s"
note "probe failures logged since start: $failed; endpoint cpu $(awk -v a="$ep0" -v b="$ep1" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }') s"
if command -v ss >/dev/null; then
	note "TCP sockets in TIME-WAIT at the end: $(ss -Htan state time-wait | wc -l)"
fi
awk -v c="$cpu_s" -v w="$HEALTH_SECONDS" 'BEGIN { exit !(100 * c / w >= 5) }' &&
	note "WARNING: otpsv used $cpu_s s of CPU in ${HEALTH_SECONDS}s, over the 5% budget"
((hwm < 96 * 1024)) || note "WARNING: peak RSS $(mib "$hwm") MiB, over the 96 MiB budget"
((fds1 <= fds0)) || note "WARNING: otpsv's fds grew from $fds0 to $fds1"
((thr1 <= thr0)) || note "WARNING: otpsv's threads grew from $thr0 to $thr1"
finish_run "$rd"
kill -KILL "$ep" 2>/dev/null
wait "$ep" 2>/dev/null

# ---------------------------------------------------------------------
# 2. Restart latency: ready: notify and fd:3 against a plain worker, all
# three the same program

new_rundir health-notify
rd=$RD
log=$rd/starts.log
cat >"$rd/otpsv.yaml" <<CONF
settings:
  state_dir: $rd/state
tree:
  name: bench
  strategy: one_for_one
  intensity: 100000
  period: 60s
  children:
    - name: plain
      command: ["$BENCH_WORKER", "-out", "$log", "-name", "plain"]
      stdout: discard
      stderr: discard
    - name: notify
      ready: notify
      command: ["$BENCH_WORKER", "-out", "$log", "-name", "notify", "-sd-notify"]
      stdout: discard
      stderr: discard
    - name: fd
      ready: "fd:3"
      command: ["$BENCH_WORKER", "-out", "$log", "-name", "fd", "-notify-fd", "3"]
      stdout: discard
      stderr: discard
CONF
start_daemon "$rd"

# wait_for TIMEOUT CMD...: run CMD every 20 ms until it prints something;
# print that (finding a line: its time comes from the line itself)
wait_for() {
	local deadline=$((SECONDS + $1)) out
	shift
	while :; do
		out=$("$@")
		[[ -n $out ]] && { echo "$out"; return 0; }
		((SECONDS < deadline)) || return 1
		sleep 0.02
	done
}
# ready_line NAME K: "pid ns" of the daemon's K-th "ready" log line of bench/NAME
ready_line() {
	local line ts pid
	line=$(grep '"msg":"ready"' "$rd/sv.log" | grep "\"node\":\"bench/$1\"" | sed -n "$2p")
	[[ -n $line ]] || return 0
	ts=$(sed -n 's/.*"time":"\([^"]*\)".*/\1/p' <<<"$line")
	pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' <<<"$line")
	echo "$pid $(date -d "$ts" +%s%N)"
}
# pause: SETTLE + random 0-999 ms, so kills land at random phases
pause() { sleep "$SETTLE"; sleep "0.$(printf '%03d' $((RANDOM % 1000)))"; }

"$BENCH_TOOL" wait-lines -file "$log" -n 3 -timeout 30s >/dev/null || die "the workers did not start (see $rd/sv.log)"
declare -A cur=() readies=()
for w in notify fd; do
	read -r "cur[$w]" _ < <(wait_for 30 ready_line "$w" 1) || die "$w was not ready within 30s (see $rd/sv.log)"
	readies[$w]=1
done
cur[plain]=$(awk -v a="${cur[notify]}" -v b="${cur[fd]}" '$1 != a && $1 != b { print $1 }' "$log")
[[ ${cur[plain]} =~ ^[0-9]+$ ]] || die "cannot tell the plain worker from $log"

# Each kill adds exactly one start line (nothing else restarts meanwhile),
# so the K-th line is the new instance of the worker just killed.
lines=3
plain=() notify=() notify_start=() fd=() fd_start=()
for ((i = 1; i <= REPEATS; i++)); do
	for w in plain notify fd; do
		pause
		[[ $(comm_of "${cur[$w]}") == bench-worker ]] || { note "run $i: $w worker ${cur[$w]} not alive"; break 2; }
		# the watcher is forked before the kill, as in restart-latency.sh
		wl=$rd/wait.out
		"$BENCH_TOOL" wait-lines -file "$log" -n $((lines + 1)) -timeout "${RESTART_TIMEOUT}s" >"$wl" &
		wpid=$!
		t=${EPOCHREALTIME/./}
		kill -KILL "${cur[$w]}"
		t0=${t}000
		if ! wait "$wpid" || ! out=$(<"$wl") || [[ -z $out ]]; then
			note "run $i: $w not restarted within ${RESTART_TIMEOUT}s"
			break 2
		fi
		read -r _ ts _ pid <<<"$out"
		lines=$((lines + 1))
		start_ms=$(ns_to_ms $((ts - t0)))
		if [[ $w == plain ]]; then
			cur[plain]=$pid
			plain+=("$start_ms")
			continue
		fi
		sleep 0.1 # let the readiness run without our polling beside it
		if ! read -r rpid rts < <(wait_for "$RESTART_TIMEOUT" ready_line "$w" $((readies[$w] + 1))); then
			note "run $i: $w not ready again within ${RESTART_TIMEOUT}s"
			break 2
		fi
		[[ $rpid == "$pid" ]] || { note "run $i: $w: ready pid $rpid, but the new instance is $pid"; break 2; }
		cur[$w]=$pid
		readies[$w]=$((readies[$w] + 1))
		case $w in
		notify) notify_start+=("$start_ms") notify+=("$(ns_to_ms $((rts - t0)))") ;;
		fd) fd_start+=("$start_ms") fd+=("$(ns_to_ms $((rts - t0)))") ;;
		esac
	done
	note "run $i: plain ${plain[-1]} ms, notify ready ${notify[-1]} ms (started ${notify_start[-1]}), fd ready ${fd[-1]} ms (started ${fd_start[-1]})"
done

report() { # NAME < samples: n, p50, p95; sets P50 and P95
	local cnt
	read -r cnt _ P50 P95 _ _ < <(stats)
	emit "health.$1.n" "$cnt" count
	emit "health.$1.p50" "$P50" ms
	emit "health.$1.p95" "$P95" ms
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "NA") printf "%.2f", a / b; else print "NA" }'; }
report plain_restart < <(printf '%s\n' "${plain[@]}")
pp50=$P50 pp95=$P95
report notify_restart < <(printf '%s\n' "${notify[@]}")
np50=$P50 np95=$P95
report notify_start < <(printf '%s\n' "${notify_start[@]}")
report fd_restart < <(printf '%s\n' "${fd[@]}")
fp50=$P50 fp95=$P95
report fd_start < <(printf '%s\n' "${fd_start[@]}")
# the issue's target: notify ready again within 1.5x the plain restart
emit health.notify_vs_plain.p50 "$(ratio "$np50" "$pp50")" x
emit health.notify_vs_plain.p95 "$(ratio "$np95" "$pp95")" x
emit health.fd_vs_plain.p50 "$(ratio "$fp50" "$pp50")" x
emit health.fd_vs_plain.p95 "$(ratio "$fp95" "$pp95")" x
awk -v r="$(ratio "$np50" "$pp50")" 'BEGIN { exit !(r != "NA" && r > 1.5) }' &&
	note "WARNING: notify restart p50 is more than 1.5x the plain one (issue 9's target)"
finish_run "$rd"
