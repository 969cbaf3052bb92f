package persistence

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// helperEnv switches the test binary into a helper process, the way
// os/exec's tests do: TestMain runs the helper named by it instead of
// the tests.
const helperEnv = "OTPSV_PERSISTENCE_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "save-die":
		saveAndDie(os.Getenv("STATE_DIR"), os.Getenv("TAG"))
	case "open-loop":
		openLoop(os.Getenv("STATE_DIR"))
	case "hold-lock":
		holdLock(os.Getenv("STATE_DIR"), os.Stdout)
	case "save-loop":
		if err := saveLoop(os.Getenv("STATE_DIR"), os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

const (
	crashNodes        = 20 // snapshots per transaction, each with a new history entry
	crashSavesPerOpen = 7  // saves between opens, so that kills land in Open and Close too
)

// saveLoop opens the store in dir and, until killed, saves crashNodes
// snapshots per transaction, all with the same counter in State,
// reopening the store every crashSavesPerOpen saves. After each commit it
// prints the counter: that commit must survive the kill.
func saveLoop(dir string, out *os.File) error {
	counter := 0
	for {
		s, err := Open(dir)
		if err != nil {
			return err
		}
		if counter == 0 {
			if counter, err = storedCounter(s); err != nil {
				return err
			}
		}
		for range crashSavesPerOpen {
			counter++
			snaps := samples(crashNodes, strconv.Itoa(counter))
			for i := range snaps {
				snaps[i].HistorySeq, snaps[i].History = uint64(counter), entries(max(1, counter-MaxHistory+1), counter)
			}
			if err := s.Save(snaps...); err != nil {
				return err
			}
			if _, err := fmt.Fprintln(out, counter); err != nil {
				return err
			}
		}
		if err := s.Close(); err != nil {
			return err
		}
	}
}

// storedCounter checks that all snapshots carry the same counter (they
// were saved in one transaction) and returns it, 0 for an empty store.
func storedCounter(s *Store) (int, error) {
	all, err := s.All()
	if err != nil {
		return 0, err
	}
	if len(all) == 0 {
		return 0, nil
	}
	if len(all) != crashNodes {
		return 0, fmt.Errorf("got %d snapshots, want %d", len(all), crashNodes)
	}
	seen := map[string]int{}
	var state string
	for _, sn := range all {
		seen[sn.State]++
		state = sn.State
	}
	if len(seen) != 1 {
		return 0, fmt.Errorf("snapshots from different transactions: counters %v", seen)
	}
	counter, err := strconv.Atoi(state)
	if err != nil {
		return 0, err
	}
	// Each commit added the history entry numbered as the counter.
	want := entries(max(1, counter-MaxHistory+1), counter)
	for p, sn := range all {
		if sn.HistorySeq != uint64(counter) || !reflect.DeepEqual(sn.History, want) {
			return 0, fmt.Errorf("%s at counter %d: history numbered %d, %d entries, not those of the same transaction",
				p, counter, sn.HistorySeq, len(sn.History))
		}
	}
	return counter, nil
}

// TestKillMidSave kills a process saving in a loop at random moments and
// wants the store to open every time, holding one whole transaction, at
// least as recent as the last one the process reported committed.
func TestKillMidSave(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "state")
	rounds := 12
	if testing.Short() {
		rounds = 3
	}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := range rounds {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=save-loop", "STATE_DIR="+dir)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of commits, at whatever point the
		// helper has reached by the time the signal lands.
		killAfter := 1 + rnd.IntN(4*crashSavesPerOpen)
		sc := bufio.NewScanner(stdout)
		last, n := 0, 0
		for n < killAfter && sc.Scan() {
			if last, err = strconv.Atoi(sc.Text()); err != nil {
				t.Fatalf("helper said %q", sc.Text())
			}
			n++
		}
		if n < killAfter {
			_ = cmd.Wait()
			t.Fatalf("round %d: helper stopped after %d commits", round, n)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for sc.Scan() { // drain what it wrote before dying
			if v, err := strconv.Atoi(sc.Text()); err == nil {
				last = v
			}
		}
		_ = cmd.Wait()

		s, err := Open(dir)
		if err != nil {
			t.Fatalf("round %d: open after kill -9: %v", round, err)
		}
		got, err := storedCounter(s)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// SIGKILL can land after a commit whose line was not yet read:
		// the store may be ahead of what we read, never behind.
		if got < last {
			t.Fatalf("round %d: store holds counter %d, helper had committed %d", round, got, last)
		}
		t.Logf("round %d: killed after commit %d, store holds %d", round, last, got)
	}
}

// saveAndDie is the "save-die" helper: it commits crashNodes snapshots
// tagged tag and dies by SIGKILL without closing the store, so that the
// commit is in Badger's memtable file only and the next Open replays it.
func saveAndDie(dir, tag string) {
	s, err := Open(dir)
	if err == nil {
		err = s.Save(samples(crashNodes, tag)...)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("saved")
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// openLoop is the "open-loop" helper: it opens the store, reads it and
// closes it, as a pass or a query does, until killed.
func openLoop(dir string) {
	for {
		s, err := Open(dir)
		if err == nil {
			_, err = s.All()
			if cerr := s.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// TestKillMidOpen kills processes opening the store at random moments,
// most of them while Badger replays a memtable a kill -9 left and creates
// its files, and wants the next Open to succeed every time with the last
// commit intact: a half-finished open is not damage.
func TestKillMidOpen(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "state")
	rounds := 60
	if testing.Short() {
		rounds = 10
	}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	helper := func(name string, env ...string) *exec.Cmd {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(append(os.Environ(), helperEnv+"="+name, "STATE_DIR="+dir), env...)
		return cmd
	}
	for round := range rounds {
		tag := "round" + strconv.Itoa(round)
		out, err := helper("save-die", "TAG="+tag).Output()
		if string(out) != "saved\n" {
			t.Fatalf("round %d: save-die helper: %q, %v", round, out, err)
		}
		// The kill lands anywhere from the helper's start-up to its
		// second or third open; Open takes some 10-50 ms.
		cmd := helper("open-loop")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rnd.IntN(80_000)) * time.Microsecond) // the moment of the kill, not a wait for anything
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if stderr.Len() > 0 {
			t.Fatalf("round %d: open-loop helper failed before the kill: %s", round, stderr.String())
		}

		s, err := Open(dir)
		if err != nil {
			t.Fatalf("round %d: open after a kill -9 during open: %v", round, err)
		}
		all, err := s.All()
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(all) != crashNodes {
			t.Fatalf("round %d: %d snapshots, want %d", round, len(all), crashNodes)
		}
		for p, sn := range all {
			if sn.State != tag {
				t.Fatalf("round %d: %s holds %q, want %q (the last commit)", round, p, sn.State, tag)
			}
		}
	}
	// Real damage is still damage.
	corruptMagic(t, dir)
	wantDamaged(t, dir, false)
}
