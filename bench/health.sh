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
#      fds, threads  at the start and the end (target: no growth)
#      probe_requests  requests the endpoint served in the window (should
#                 be about workers x seconds), restarts (should be 0)
# 2. Restart latency with ready: notify: one daemon runs a plain
#    bench-worker, healthfix ready once spawned ("spawnfix") and healthfix
#    with `ready: notify` that sends READY=1 at once. REPEATS (20) times
#    each, in turn, SIGKILL the worker and measure from CLOCK_REALTIME
#    before kill(2) to:
#      plain     the new bench-worker's start timestamp (as restart-latency.sh)
#      spawnfix  the new healthfix's start line
#      notify    the time of the daemon's "ready" log line for the new
#                process: ready again, as otpsv sees it
#      notify_sent  when the new healthfix was about to send READY=1
#    p50/p95 of each; ratios notify/plain (the target: at most 1.5) and
#    notify/spawnfix (the same program: what notify itself costs).
#    Before each kill SETTLE s (0.2) + random 0-999 ms.
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

# ticks PID: utime+stime in clock ticks
ticks() {
	local st
	read -r st <"/proc/$1/stat" || return 1
	# shellcheck disable=SC2086
	set -- ${st##*) }
	echo $((${12} + ${13}))
}
kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
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
{
	cat <<CONF
settings:
  state_dir: $rd/state
tree:
  name: bench
  strategy: one_for_one
  intensity: 100000
  period: 60s
  children:
CONF
	for ((i = 1; i <= n; i++)); do
		cat <<CONF
    - name: w$i
      command: ["$BENCH_WORKER", "-out", "$rd/starts.log", "-name", "w$i"]
      stdout: discard
      stderr: discard
      probes:
        liveness: {http: "http://127.0.0.1:$port/live", period: 1s}
CONF
	done
} >"$rd/otpsv.yaml"
start_daemon "$rd"
sv=$(main_pid "$rd")
if ! "$BENCH_TOOL" wait-lines -file "$rd/starts.log" -n "$n" -timeout "${SCALE_TIMEOUT}s" >/dev/null; then
	die "only $(wc -l <"$rd/starts.log") of $n workers started within ${SCALE_TIMEOUT}s (see $rd/sv.log)"
fi
sleep "$HEALTH_SETTLE"
[[ -n $(comm_of "$sv") ]] || die "otpsv exited (see $rd/sv.log)"
cpu0=$(ticks "$sv") ep0=$(ticks "$ep") req0=$(requests "$port")
rss0=$(kib "$sv" VmRSS) fds0=$(fds "$sv") thr0=$(kib "$sv" Threads)
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
rss1=$(kib "$sv" VmRSS) fds1=$(fds "$sv") thr1=$(kib "$sv" Threads) hwm=$(kib "$sv" VmHWM)
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
# 2. Restart latency: ready: notify against plain workers

new_rundir health-notify
rd=$RD
log=$rd/starts.log
hlog=$rd/healthfix.log
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
    - name: spawnfix
      command: ["$HEALTHFIX", "-name", "spawnfix", "-ready", "$hlog"]
      stdout: discard
      stderr: discard
    - name: notify
      ready: notify
      command: ["$HEALTHFIX", "-name", "notify", "-ready", "$hlog", "-notify-after", "0"]
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
# hline NAME K: "pid ns" of the K-th line of NAME in the healthfix file
hline() { awk -v n="$1" -v k="$2" '$1 == n && ++c == k { print $2, $4; exit }' "$hlog"; }
# ready_line K: "pid ns" of the daemon's K-th "ready" log line of bench/notify
ready_line() {
	local line ts pid
	line=$(grep '"msg":"ready"' "$rd/sv.log" | grep '"node":"bench/notify"' | sed -n "$1p")
	[[ -n $line ]] || return 0
	ts=$(sed -n 's/.*"time":"\([^"]*\)".*/\1/p' <<<"$line")
	pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' <<<"$line")
	echo "$pid $(date -d "$ts" +%s%N)"
}
# sent_ns PID: when healthfix PID was about to send READY=1
sent_ns() { awk -v p="$1" '$1 == "notify.notify" && $2 == p { print $4 }' "$hlog"; }
# pause: SETTLE + random 0-999 ms, so kills land at random phases
pause() { sleep "$SETTLE"; sleep "0.$(printf '%03d' $((RANDOM % 1000)))"; }

"$BENCH_TOOL" wait-lines -file "$log" -n 1 -timeout 30s >/dev/null || die "plain did not start (see $rd/sv.log)"
read -r spid _ < <(wait_for 30 hline spawnfix 1) || die "spawnfix did not start (see $rd/sv.log)"
read -r npid _ < <(wait_for 30 ready_line 1) || die "notify was not ready within 30s (see $rd/sv.log)"
HF_PIDS+=("$spid" "$npid")

lines=1 spawns=1 readies=1
plain=() spawnfix=() notify=() sent=()
for ((i = 1; i <= REPEATS; i++)); do
	# plain bench-worker, as restart-latency.sh: the watcher is forked
	# before the kill
	pause
	read -r _ _ _ pid < <("$BENCH_TOOL" wait-lines -file "$log" -n "$lines" -timeout 1s)
	[[ $(comm_of "$pid") == bench-worker ]] || { note "run $i: plain worker $pid not alive"; break; }
	wl=$rd/wait.out
	"$BENCH_TOOL" wait-lines -file "$log" -n $((lines + 1)) -timeout "${RESTART_TIMEOUT}s" >"$wl" &
	wpid=$!
	t=${EPOCHREALTIME/./}
	kill -KILL "$pid"
	t0=${t}000
	if ! wait "$wpid" || ! out=$(<"$wl") || [[ -z $out ]]; then
		note "run $i: plain not restarted within ${RESTART_TIMEOUT}s"
		break
	fi
	read -r _ ts _ _ <<<"$out"
	plain+=("$(ns_to_ms $((ts - t0)))")
	lines=$((lines + 1))

	# the same program as notify, ready once spawned: to its start line
	pause
	[[ $(comm_of "$spid") == "$hf_comm" ]] || { note "run $i: spawnfix $spid not alive"; break; }
	t=${EPOCHREALTIME/./}
	kill -KILL "$spid"
	t0=${t}000
	sleep 0.2 # let the restart run without our polling beside it
	if ! read -r spid ts < <(wait_for "$RESTART_TIMEOUT" hline spawnfix $((spawns + 1))); then
		note "run $i: spawnfix not restarted within ${RESTART_TIMEOUT}s"
		break
	fi
	HF_PIDS+=("$spid")
	spawns=$((spawns + 1))
	spawnfix+=("$(ns_to_ms $((ts - t0)))")

	# ready: notify, until the daemon logs "ready" for the new process
	pause
	[[ $(comm_of "$npid") == "$hf_comm" ]] || { note "run $i: notify $npid not alive"; break; }
	t=${EPOCHREALTIME/./}
	kill -KILL "$npid"
	t0=${t}000
	sleep 0.2
	if ! read -r npid ts < <(wait_for "$RESTART_TIMEOUT" ready_line $((readies + 1))); then
		note "run $i: notify not ready again within ${RESTART_TIMEOUT}s"
		break
	fi
	HF_PIDS+=("$npid")
	readies=$((readies + 1))
	notify+=("$(ns_to_ms $((ts - t0)))")
	s=$(sent_ns "$npid") s_ms=NA
	[[ -n $s ]] && s_ms=$(ns_to_ms $((s - t0))) && sent+=("$s_ms")
	note "run $i: plain ${plain[-1]} ms, spawnfix ${spawnfix[-1]} ms, notify ready ${notify[-1]} ms (READY=1 sent at $s_ms ms)"
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
report spawnfix_restart < <(printf '%s\n' "${spawnfix[@]}")
sp50=$P50 sp95=$P95
report notify_restart < <(printf '%s\n' "${notify[@]}")
np50=$P50 np95=$P95
report notify_sent < <(printf '%s\n' "${sent[@]}")
# the issue's target: notify ready again within 1.5x the plain restart
emit health.notify_vs_plain.p50 "$(ratio "$np50" "$pp50")" x
emit health.notify_vs_plain.p95 "$(ratio "$np95" "$pp95")" x
# the same program restarted without notify: what notify itself costs
emit health.notify_vs_spawnfix.p50 "$(ratio "$np50" "$sp50")" x
emit health.notify_vs_spawnfix.p95 "$(ratio "$np95" "$sp95")" x
awk -v r="$(ratio "$np50" "$pp50")" 'BEGIN { exit !(r != "NA" && r > 1.5) }' &&
	note "WARNING: notify restart p50 is more than 1.5x the plain one (healthfix, a bigger Go program than bench-worker, starts slower: compare notify_vs_spawnfix)"
finish_run "$rd"
