// Package test holds otpsv's black-box tests: they build the otpsv binary
// and a fixture worker program once, run `otpsv daemon` on small trees of
// real processes, and assert on pids, exit statuses, the JSON event stream
// and files. Readiness is reported by the fixtures through a ready file;
// no test sleeps to wait for something to happen.
package test

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var (
	otpsvBin   string // the otpsv binary under test, built with -race
	fixtureBin string // test/testdata/fixture
	// healthfixBin is test/testdata/healthfix: the worker of the health
	// tests (sd_notify, notification fd, HTTP endpoints, watchdog).
	healthfixBin string
	// raceDir collects the race detector's reports of every otpsv run
	// (GORACE log_path): a report there fails the run, even when the
	// test that started that otpsv saw nothing wrong (a killed daemon, a
	// race on a path whose output nobody checks).
	raceDir string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("test: black-box tests skipped with -short")
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "otpsv-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test:", err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		otpsvBin = filepath.Join(dir, "otpsv")
		fixtureBin = filepath.Join(dir, "fixture")
		healthfixBin = filepath.Join(dir, "healthfix")
		raceDir = filepath.Join(dir, "race")
		// Unprivileged runs (setpriv) write their reports here too.
		if err := os.Mkdir(raceDir, 0o777); err != nil || os.Chmod(raceDir, 0o1777) != nil {
			fmt.Fprintln(os.Stderr, "test: race dir:", err)
			return 1
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "test:", err)
			return 1
		}
		// Every otpsv (and anything else) started from here inherits it.
		// Set before any test runs, so no goroutine sees it change.
		// atexit_sleep_ms=0: a -race binary otherwise sleeps a second at
		// every exit, and the suite runs otpsv's short verbs hundreds of
		// times; reports are written when a race is found, not at exit.
		os.Setenv("GORACE", "log_path="+filepath.Join(raceDir, "race")+" halt_on_error=0 atexit_sleep_ms=0")
		for _, b := range []struct {
			out, pkg string
			race     bool
		}{
			{otpsvBin, "./cmd/otpsv", true},
			{fixtureBin, "./test/testdata/fixture", false},
			{healthfixBin, "./test/testdata/healthfix", false},
		} {
			args := []string{"build", "-o", b.out}
			if b.race {
				args = append(args, "-race")
			}
			cmd := exec.Command("go", append(args, b.pkg)...)
			cmd.Dir = ".." // the module root
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "test: go build %s: %v\n", b.pkg, err)
				return 1
			}
		}
		code := m.Run()
		if raceReports() {
			return 1
		}
		return code
	}()
	os.Exit(code)
}

// begin marks a black-box test: skipped with -short, run in parallel with
// the others (each has its own temp dir, state_dir and processes).
func begin(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("black-box test: skipped with -short")
	}
	t.Parallel()
}

// raceReports prints every race report left by an otpsv run and reports
// whether there was one.
func raceReports() bool {
	files, _ := filepath.Glob(filepath.Join(raceDir, "race.*"))
	found := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		found = true
		fmt.Fprintf(os.Stderr, "test: FAIL: the otpsv binary under test reported a data race (%s):\n%s\n", filepath.Base(f), b)
	}
	return found
}
