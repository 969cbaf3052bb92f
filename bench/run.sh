#!/usr/bin/env bash
# otpsv's performance numbers, measured with the shared harness (copied
# here from ../shared/bench; the otpsv adapter is finished in this copy).
# Usage: OTPSV=/path/to/otpsv bench/run.sh   (make bench does this)
# Prints "metric value unit" lines; also saved under $OUT (default
# /tmp/bench-results/otpsv-<date>.txt). Takes about 10 minutes.
set -u
cd "$(dirname "$0")" || exit 1
export BENCH_WORKER=${BENCH_WORKER:-/tmp/bench-worker}
export OTPSV=${OTPSV:-otpsv}
OUT=${OUT:-/tmp/bench-results}
mkdir -p "$OUT"
out=$OUT/otpsv-$(date -u +%Y%m%dT%H%M%SZ).txt
{
	./baseline.sh
	# otpsv does not throttle restarts, so a short settle suffices; the
	# script still adds a random 0-1 s before each kill.
	REPEATS=${REPEATS:-100} SETTLE=${SETTLE:-0.2} ./restart-latency.sh otpsv
	./scale.sh otpsv 100 1000
	./storm.sh otpsv # RSS while 25 workers are killed every 50-300 ms for 60 s
	# 1000 HTTP liveness probes a second for 60 s; ready: notify restart latency
	./health.sh
	./metrics.sh # 1000 workers: /metrics scrape time, idle CPU with metrics on
	# a worker writing 1 GB of lines, straight to a file and through log: with timestamps
	./logs.sh
	# the floor under the 1000-worker startup, in the same session
	(cd forkfloor && go run . -n 1000 -worker "$BENCH_WORKER")
	./stop-all.sh otpsv 100
	./oneshot.sh 100
} 2>&1 | tee "$out"
echo "# saved in $out"
