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
	otpsvBin   string // the otpsv binary under test
	fixtureBin string // test/testdata/fixture
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
		for _, b := range []struct{ out, pkg string }{
			{otpsvBin, "./cmd/otpsv"},
			{fixtureBin, "./test/testdata/fixture"},
		} {
			cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
			cmd.Dir = ".." // the module root
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "test: go build %s: %v\n", b.pkg, err)
				return 1
			}
		}
		return m.Run()
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
