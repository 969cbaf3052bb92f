#!/usr/bin/env bash
# logs.sh                        (otpsv only; SPEC §8, issue 11's numbers)
#
# A worker (bench-worker -spew) writes LOGS_BYTES (default 1 GB) of
# 100-byte lines to its stdout in 4 KiB writes, as C stdio does, under an
# otpsv daemon, twice, alternating LOGS_REPEATS times (default 2):
#   direct   `stdout: FILE`: the worker writes the file itself
#   log      `log: {to: file, timestamps: true}`: through otpsv's logger
#            process, each line prefixed with its arrival time
# For each: the time from the worker's start to the last byte in the file
# (direct: the worker's own end; log: the file reaching its expected size,
# polled every 10 ms), as MB/s of the worker's bytes, after a sync(1) so
# that the previous run's writeback does not compete; the best of the
# repeats of each; then
# log_vs_direct (issue 11's target: at most 1.25, and log at least
# 200 MB/s), the daemon's VmHWM and the logger's peak RSS (target: the
# daemon under 64 MiB).
#
# Output: otpsv.logs.* lines, "metric value unit".
# Usage: OTPSV=/path/to/otpsv ./logs.sh
set -u
. "$(dirname "$0")/lib.sh"
PEER=otpsv
ensure_built
reexec_under_reaper "$@"

OTPSV=${OTPSV:-otpsv}
LOGS_BYTES=${LOGS_BYTES:-1000000000}
LOGS_REPEATS=${LOGS_REPEATS:-2}
LOGS_TIMEOUT=${LOGS_TIMEOUT:-300}
lines=$((LOGS_BYTES / 100))


# run MODE: one daemon, one worker; prints "MBps daemon_hwm_kib logger_hwm_kib"
run() {
	local mode=$1 rd sv out expect start end t0 now logger= lhwm=0 h
	new_rundir "logs-$mode"
	rd=$RD
	out=$rd/direct.log
	{
		cat <<CONF
settings:
  state_dir: $rd/state
tree:
  name: bench
  children:
    - name: spew
      restart: temporary
      command: ["$BENCH_WORKER", "-out", "$rd/starts.log", "-done", "$rd/done.log", "-spew", "$LOGS_BYTES"]
CONF
		if [[ $mode == direct ]]; then
			printf '      stdout: %s\n      stderr: discard\n' "$out"
		else
			printf '      log: {to: file, timestamps: true}\n'
		fi
	} >"$rd/otpsv.yaml"
	"$OTPSV" validate --config "$rd/otpsv.yaml" >/dev/null || die "otpsv rejects $rd/otpsv.yaml"
	# the previous run's gigabyte is written back first, not during this one
	sync
	launch "$rd" "$OTPSV" daemon --config "$rd/otpsv.yaml"
	sv=$(main_pid "$rd")
	"$BENCH_TOOL" wait-lines -file "$rd/starts.log" -n 1 -timeout 30s >/dev/null || die "the worker did not start (see $rd/sv.log)"
	read -r _ start <"$rd/starts.log"
	expect=$LOGS_BYTES
	if [[ $mode == log ]]; then
		out=$rd/state/logs/bench_spew.log
		expect=$((LOGS_BYTES + lines * 28)) # "2006-01-02T15:04:05.000000Z "
	fi
	t0=$SECONDS
	while :; do
		if [[ -z $logger ]]; then
			for p in $(cat /proc/"$sv"/task/*/children 2>/dev/null); do
				[[ $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) == *log-writer* ]] && logger=$p
			done
		fi
		if [[ -n $logger ]]; then
			h=$(kib "$logger" VmHWM)
			[[ -n $h ]] && ((h > lhwm)) && lhwm=$h
		fi
		if [[ $mode == direct ]]; then
			[[ -s $rd/done.log ]] && break
		else
			now=$(stat -c %s "$out" 2>/dev/null || echo 0)
			((now >= expect)) && break
		fi
		((SECONDS - t0 > LOGS_TIMEOUT)) && die "$mode: not done within ${LOGS_TIMEOUT}s (see $rd/sv.log)"
		sleep 0.01
	done
	end=$("$BENCH_TOOL" now)
	[[ $mode == direct ]] && read -r _ end <"$rd/done.log"
	now=$(stat -c %s "$out")
	((now == expect)) || note "WARNING: $mode: $out has $now bytes, expected $expect" >&2
	h=$(kib "$sv" VmHWM)
	awk -v b="$LOGS_BYTES" -v s="$start" -v e="$end" -v h="$h" -v l="$lhwm" 'BEGIN { printf "%.1f %d %d\n", b / 1e6 / ((e - s) / 1e9), h, l }'
	finish_run "$rd"
}

header
note "bytes=$LOGS_BYTES (100-byte lines, 4 KiB writes) repeats=$LOGS_REPEATS"
d=() l=() dh=0 lh=0
for ((i = 1; i <= LOGS_REPEATS; i++)); do
	read -r r h _ < <(run direct)
	d+=("$r")
	((h > dh)) && dh=$h
	read -r r h g < <(run log)
	l+=("$r")
	((h > dh)) && dh=$h
	((g > lh)) && lh=$g
	note "pair $i: direct ${d[-1]} MB/s, log ${l[-1]} MB/s"
done
best() { printf '%s\n' "$@" | sort -g | tail -1; }
bd=$(best "${d[@]}") bl=$(best "${l[@]}")
emit logs.direct_mbps "$bd" MB/s
emit logs.log_mbps "$bl" MB/s
emit logs.log_vs_direct "$(awk -v d="$bd" -v l="$bl" 'BEGIN { printf "%.2f", d / l }')" x
emit logs.daemon_hwm "$(mib "$dh")" MiB
emit logs.logger_hwm "$(mib "$lh")" MiB
