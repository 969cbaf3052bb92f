// forkfloor measures the floor under "start N workers": a Go program that
// forks and execs N bench-workers back to back, as fast as it can, and
// waits until all of them have recorded their start. No supervisor does
// less; otpsv's scale startup is compared with this, measured in the same
// session. Workers are killed by pid at the end.
//
// Usage: go run . [-n 1000] [-worker /tmp/bench-worker]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 1000, "workers")
	worker := flag.String("worker", "/tmp/bench-worker", "the bench worker binary")
	flag.Parse()
	dir, err := os.MkdirTemp("", "forkfloor")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "starts.log")
	var pids []int
	defer func() {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}()
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		pid, err := syscall.ForkExec(*worker, []string{*worker, "-out", out, "-name", fmt.Sprint("w", i)},
			&syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{Setpgid: true}})
		if err != nil {
			panic(err)
		}
		pids = append(pids, pid)
	}
	forked := time.Since(t0)
	for {
		b, _ := os.ReadFile(out)
		if bytes.Count(b, []byte("\n")) >= *n {
			break
		}
		time.Sleep(5 * time.Millisecond) // polls a file; the number is the last start's own timestamp below
	}
	b, _ := os.ReadFile(out)
	var last int64
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var pid int
		var ns int64
		if _, err := fmt.Sscan(string(line), &pid, &ns); err == nil && ns > last {
			last = ns
		}
	}
	fmt.Printf("forkfloor.n%d.forked %.1f ms\n", *n, float64(forked.Microseconds())/1000)
	fmt.Printf("forkfloor.n%d.startup_all %.1f ms\n", *n, float64(last-t0.UnixNano())/1e6)
}
