#!/usr/bin/env bash
# restart-latency.sh PEER
#
# One worker, auto-restart on. REPEATS times (default 20): SIGKILL the
# current worker instance and measure
#     (start timestamp written by the new instance) - (CLOCK_REALTIME just before kill(2))
# Between kills the new instance is left up SETTLE s (default 2, longer than
# the 1 s "ran too briefly" throttles of supervisord/runsv/s6-supervise) plus
# a random 0-999 ms so that kills land at random phases of polling loops.
#
# Output: PEER.restart_latency.{n,min,p50,p95,max,mean} lines, in ms.
set -u
. "$(dirname "$0")/lib.sh"
set_peer "${1:-}"
ensure_built
reexec_under_reaper "$@"

REPEATS=${REPEATS:-20}
SETTLE=${SETTLE:-2}
RESTART_TIMEOUT=${RESTART_TIMEOUT:-30}

header
note "repeats=$REPEATS settle=${SETTLE}s+rand(0..1s)"
new_rundir restart
rd=$RD
log=$rd/starts.log
adapter config "$rd" 1 || die "config failed"
adapter start "$rd" || die "start failed"
"$BENCH_TOOL" wait-lines -file "$log" -n 1 -timeout 30s >/dev/null ||
	die "worker did not start within 30 s (see $rd/sv.log)"
sleep "$SETTLE"

lines=1
samples=()
for ((i = 1; i <= REPEATS; i++)); do
	read -r cnt _ _ pid < <("$BENCH_TOOL" wait-lines -file "$log" -n "$lines" -timeout 1s)
	if ((cnt != lines)); then
		note "run $i: expected $lines start lines, found $cnt (spurious restart?)"
		lines=$cnt
		read -r _ _ _ pid < <("$BENCH_TOOL" wait-lines -file "$log" -n "$lines" -timeout 1s)
	fi
	[[ $(comm_of "$pid") == bench-worker ]] || { note "run $i: worker $pid not alive"; break; }
	# The watcher is started before the kill (otpsv's change to the shared
	# harness): forked after it, its Go runtime start-up competed for the
	# two CPUs with the very restart being timed. It only polls a file, and
	# the latency comes from the timestamp the new worker writes, so its
	# polling period does not enter the number.
	wl=$rd/wait.out
	"$BENCH_TOOL" wait-lines -file "$log" -n $((lines + 1)) -timeout "${RESTART_TIMEOUT}s" >"$wl" &
	wpid=$!
	sleep "0.$(printf '%03d' $((RANDOM % 1000)))"
	t=${EPOCHREALTIME/./}
	kill -KILL "$pid"
	t0=${t}000
	if ! wait "$wpid" || ! out=$(<"$wl") || [[ -z $out ]]; then
		note "run $i: no restart within ${RESTART_TIMEOUT}s"
		break
	fi
	read -r _ ts _ _ <<<"$out"
	ms=$(ns_to_ms $((ts - t0)))
	samples+=("$ms")
	note "run $i: killed $pid, restarted after $ms ms"
	lines=$((lines + 1))
	sleep "$SETTLE"
done

read -r n min p50 p95 max mean < <(printf '%s\n' "${samples[@]}" | stats)
emit restart_latency.n "$n" count
emit restart_latency.min "$min" ms
emit restart_latency.p50 "$p50" ms
emit restart_latency.p95 "$p95" ms
emit restart_latency.max "$max" ms
emit restart_latency.mean "$mean" ms
