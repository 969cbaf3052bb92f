#!/usr/bin/env bash
# otpsv oneshot pass timings (otpsv only; the seed's `simplevisor single`
# over the same 100 services is the peer: 10.5 s in RESULTS.md).
#   oneshot.quiet_pass   N process workers, all running: a pass that changes nothing
#   oneshot.service_pass N service workers whose status commands take 50 ms each
# Usage: OTPSV=/path/to/otpsv ./oneshot.sh [N]   (N default 100, RUNS default 20)
set -u
. "$(dirname "$0")/lib.sh"
PEER=otpsv
ensure_built
reexec_under_reaper "$@"
N=${1:-100}
RUNS=${RUNS:-20}
OTPSV=${OTPSV:-otpsv}
note "$(basename "$0") date=$(date -u +%FT%TZ) host=$(uname -n) kernel=$(uname -r) cpus=$(nproc) n=$N runs=$RUNS"
note "version: $("$OTPSV" version)"

time_passes() { # CONF STATE: time RUNS passes, print ms one per line
	local t0 t1 i
	for ((i = 0; i < RUNS; i++)); do
		t0=${EPOCHREALTIME/./}
		"$OTPSV" oneshot -c "$1" --state-dir "$2" >/dev/null 2>>"$2.err" || note "pass $i exited $?"
		t1=${EPOCHREALTIME/./}
		ns_to_ms $(((t1 - t0) * 1000))
		echo
	done
}

report() {
	local name=$1
	read -r n min p50 p95 max _ < <(stats)
	emit "$name.n" "$n" count
	emit "$name.p50" "$p50" ms
	emit "$name.p95" "$p95" ms
	emit "$name.max" "$max" ms
}

# 1. process workers
new_rundir oneshot
rd=$RD
{
	echo "tree:"
	echo "  name: bench"
	echo "  intensity: 100000"
	echo "  children:"
	for ((i = 1; i <= N; i++)); do
		echo "    - {name: w$i, command: [$BENCH_WORKER, -out, $rd/starts.log, -name, w$i], stdout: discard, stderr: discard}"
	done
} >"$rd/otpsv.yaml"
t0=${EPOCHREALTIME/./}
"$OTPSV" oneshot -c "$rd/otpsv.yaml" --state-dir "$rd/state" >/dev/null || die "first pass failed"
t1=${EPOCHREALTIME/./}
emit oneshot.first_pass "$(ns_to_ms $(((t1 - t0) * 1000)))" ms
time_passes "$rd/otpsv.yaml" "$rd/state" | report oneshot.quiet_pass
emit oneshot.state_dir_kib "$(du -sk "$rd/state/state" | cut -f1)" KiB
# the detached workers are not our children: stop them through otpsv
"$OTPSV" stop -c "$rd/otpsv.yaml" --state-dir "$rd/state" bench >/dev/null 2>&1
finish_run "$rd"

# 2. service workers, status commands of 50 ms each, all running
new_rundir oneshot-svc
rd=$RD
svc=$ADAPTERS/simplevisor-svc.sh
{
	echo "tree:"
	echo "  name: bench"
	echo "  intensity: 100000"
	echo "  children:"
	for ((i = 1; i <= N; i++)); do
		cat <<CONF
    - name: s$i
      start: [$BENCH_WORKER, -out, $rd/starts.log, -name, s$i, -detach, -pidfile, $rd/s$i.pid]
      status: [sh, -c, "sleep 0.05; exec $svc status $rd/s$i.pid"]
      stop: [$svc, stop, $rd/s$i.pid]
CONF
	done
} >"$rd/otpsv.yaml"
"$OTPSV" oneshot -c "$rd/otpsv.yaml" --state-dir "$rd/state" >/dev/null || die "first service pass failed"
time_passes "$rd/otpsv.yaml" "$rd/state" | report oneshot.service_pass
# The floor: the same N status commands run concurrently straight from
# bash, no supervisor (on 2 CPUs their forks and shells dominate).
for ((r = 0; r < RUNS; r++)); do
	t0=${EPOCHREALTIME/./}
	for ((i = 1; i <= N; i++)); do
		sh -c "sleep 0.05; exec $svc status $rd/s$i.pid" &
	done
	wait
	t1=${EPOCHREALTIME/./}
	ns_to_ms $(((t1 - t0) * 1000))
	echo
done | report oneshot.service_status_floor
"$OTPSV" stop -c "$rd/otpsv.yaml" --state-dir "$rd/state" bench >/dev/null 2>&1
finish_run "$rd"
