#!/usr/bin/env bash
# storm.sh [PEER]              (default PEER: otpsv)
#
# Memory under a restart storm: STORM_WORKERS workers (default 25), and for
# STORM_SECONDS s (default 60) one of them, at random, SIGKILLed every
# 50-300 ms (a child of the supervisor whose comm is bench-worker: only
# processes it started). The supervisor's VmRSS is sampled every second
# from its start to STORM_AFTER s (default 10) after the storm, which
# covers otpsv closing its store 2 s after the last write.
#
# Output: PEER.storm.{kills,restarts,rss_before,rss_max,hwm,rss_after};
# hwm is VmHWM at the end, the peak between samples too. otpsv's target:
# hwm under 64 MiB, the budget of 1000 idle workers.
set -u
. "$(dirname "$0")/lib.sh"
set_peer "${1:-otpsv}"
ensure_built
reexec_under_reaper "$PEER"

STORM_WORKERS=${STORM_WORKERS:-25}
STORM_SECONDS=${STORM_SECONDS:-60}
STORM_AFTER=${STORM_AFTER:-10}


header
note "workers=$STORM_WORKERS storm=${STORM_SECONDS}s after=${STORM_AFTER}s kill interval 50-300 ms"
new_rundir storm
rd=$RD
adapter config "$rd" "$STORM_WORKERS" || die "config failed"
adapter start "$rd" || die "start failed"
sv=$(main_pid "$rd")
"$BENCH_TOOL" wait-lines -file "$rd/starts.log" -n "$STORM_WORKERS" -timeout 60s >/dev/null ||
	die "workers did not start within 60 s (see $rd/sv.log)"
sleep 3
rss_before=$(kib "$sv" VmRSS)

(
	while [[ -d /proc/$sv ]]; do
		kib "$sv" VmRSS
		sleep 1
	done
) >"$rd/rss.samples" &
sampler=$!

kills=0
end=$((SECONDS + STORM_SECONDS))
while ((SECONDS < end)); do
	# shellcheck disable=SC2207
	kids=($(cat /proc/"$sv"/task/*/children 2>/dev/null))
	if ((${#kids[@]})); then
		p=${kids[RANDOM % ${#kids[@]}]}
		[[ $(comm_of "$p") == bench-worker ]] && kill -KILL "$p" 2>/dev/null && kills=$((kills + 1))
	fi
	sleep "0.$(printf '%03d' $((50 + RANDOM % 251)))"
done
sleep "$STORM_AFTER"
[[ -n $(comm_of "$sv") ]] || die "the supervisor died during the storm (see $rd/sv.log)"
hwm=$(kib "$sv" VmHWM)
rss_after=$(kib "$sv" VmRSS)
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null
rss_max=$(sort -n "$rd/rss.samples" | tail -1)
starts=$(wc -l <"$rd/starts.log")

emit storm.kills "$kills" count
emit storm.restarts $((starts - STORM_WORKERS)) count
emit storm.rss_before "$(mib "$rss_before")" MiB
emit storm.rss_max "$(mib "$rss_max")" MiB
emit storm.hwm "$(mib "$hwm")" MiB
emit storm.rss_after "$(mib "$rss_after")" MiB
((hwm < 64 * 1024)) || note "WARNING: peak RSS $(mib "$hwm") MiB, over the 64 MiB budget"
finish_run "$rd"
