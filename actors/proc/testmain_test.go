//go:build linux

package proc

import (
	"fmt"
	"os"
	"testing"
)

// TestMain makes the test process a child subreaper, as the otpsv daemon
// is: orphans of the tests' processes are re-parented to it and reaped at
// once by the reaper, instead of lingering as zombies (counted as group
// members) until init gets to them.
func TestMain(m *testing.M) {
	if err := BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, "become subreaper:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
