package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// TagVar is the environment variable that tags a worker's processes (see
// Spec.Tag). Its value names the worker, as "<instance>/<node path>".
const TagVar = "OTPSV_NODE"

// tagKey starts the environment entry of the tag.
var tagKey = []byte(TagVar + "=")

// Tagged is a live process whose environment holds TagVar.
type Tagged struct {
	Pid, PPid, Pgid, Sid int
	// StartTime is the start time in clock ticks since boot, as ProcInfo
	// has it: with Pid, what names the process (see Adopt).
	StartTime uint64
	// Tag is TagVar's value; empty for an untagged process (from
	// Group.Leftovers) or one whose environment otpsv cannot read.
	Tag string
}

// info is t as SignalProcesses and signalSame take it.
func (t Tagged) info() ProcInfo {
	return ProcInfo{Pid: t.Pid, PPid: t.PPid, Pgid: t.Pgid, Sid: t.Sid, StartTime: t.StartTime}
}

// withTag returns env with TagVar set to tag, as its first entry: a scan
// of /proc/PID/environ then finds it in the first bytes it reads, and
// stops there. Any earlier TagVar entry is dropped, so a program reads
// one value, otpsv's (one inherited from an otpsv that runs otpsv as a
// worker, say). env itself is not modified.
func withTag(env []string, tag string) []string {
	out := make([]string, 0, len(env)+1)
	out = append(out, TagVar+"="+tag)
	for _, kv := range env {
		if !strings.HasPrefix(kv, TagVar+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// FindTagged returns every live process (zombies left out) whose
// environment holds TagVar with a value that begins with prefix: "" finds
// all tagged processes; "<instance>/" those of one instance. Compare Tag
// for a node exactly: a prefix "<instance>/a" would also match the node
// "<instance>/ab". It scans /proc once.
//
// The environment is the one the process was started with (exec), so a
// worker's children and grandchildren carry its tag unless they cleared
// or replaced their environment. A process that rewrites its title over
// its environment (nginx, postgres, redis, perl's $0, ... as ps shows
// them) has no readable tag left: FindTagged does not see it.
//
// Left out as well: processes whose environment cannot be read (another
// user's, unless otpsv runs as root, and even as root without
// CAP_SYS_PTRACE, as in a default container; hidepid), and otpsv's own
// process and its ancestors (an otpsv run as another otpsv's worker
// inherits that worker's tag). Only a failure to list /proc is an error.
//
// Unless otpsv runs as root, only processes of its own uid are read: the
// others' environments would be refused anyway, and this saves opening
// them.
func FindTagged(prefix string) ([]Tagged, error) {
	names, err := listProc()
	if err != nil {
		return nil, fmt.Errorf("find tagged processes: %w", err)
	}
	self := selfAndAncestors()
	euid := os.Geteuid()
	var s tagScanner
	var found []Tagged
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || self[pid] {
			continue
		}
		t, ok := s.read(pid, euid, prefix)
		if ok {
			found = append(found, t)
		}
	}
	return found, nil
}

// listProc returns the names in /proc that are pids.
func listProc() ([]string, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	_ = d.Close()
	if err != nil {
		return nil, err
	}
	pids := names[:0]
	for _, n := range names {
		if isDigits(n) {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// selfAndAncestors returns this process's pid and its ancestors' (to
// init, or to the edge of our pid namespace), read up the chain of
// parents without a scan of the whole table.
func selfAndAncestors() map[int]bool {
	set := map[int]bool{}
	for pid := os.Getpid(); pid > 0 && !set[pid]; {
		set[pid] = true
		pi, err := LookupProcess(pid)
		if err != nil {
			break
		}
		pid = pi.PPid
	}
	return set
}

// tagScanner reads the tag and stat of processes, with buffers it reuses.
type tagScanner struct {
	stat procReader
	env  []byte
}

// read returns pid's tag and stat entry when pid is alive, readable and
// tagged with a value that begins with prefix; when euid is not root,
// only processes of that uid are read. Both files are opened through one
// open /proc/PID directory: should the process exit and its pid be taken
// by another between the two reads, the directory stays that of the
// first, and the second read fails instead of describing the newcomer.
func (s *tagScanner) read(pid, euid int, prefix string) (Tagged, bool) {
	dir, err := unix.Open("/proc/"+strconv.Itoa(pid), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Tagged{}, false
	}
	defer unix.Close(dir)
	if euid != 0 {
		var st unix.Stat_t
		if unix.Fstat(dir, &st) != nil || int(st.Uid) != euid {
			return Tagged{}, false
		}
	}
	tag, ok := s.tagAt(dir)
	if !ok || !strings.HasPrefix(tag, prefix) {
		return Tagged{}, false
	}
	pi, ok := s.statAt(dir)
	if !ok || pi.State == 'Z' || pi.State == 'X' {
		return Tagged{}, false
	}
	return Tagged{Pid: pi.Pid, PPid: pi.PPid, Pgid: pi.Pgid, Sid: pi.Sid, StartTime: pi.StartTime, Tag: tag}, true
}

// tagAt reads TagVar's value from the environ file of the /proc/PID
// directory dir.
func (s *tagScanner) tagAt(dir int) (string, bool) {
	fd, err := unix.Openat(dir, "environ", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	defer unix.Close(fd)
	if s.env == nil {
		s.env = make([]byte, 16<<10)
	}
	tag, ok, err := findTag(&s.env, func(b []byte) (int, error) {
		for {
			n, err := unix.Read(fd, b)
			if !errors.Is(err, unix.EINTR) {
				return n, err
			}
		}
	})
	return tag, ok && err == nil
}

// statAt reads and parses the stat file of the /proc/PID directory dir.
func (s *tagScanner) statAt(dir int) (ProcInfo, bool) {
	fd, err := unix.Openat(dir, "stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ProcInfo{}, false
	}
	defer unix.Close(fd)
	b, err := s.stat.readFd(fd)
	if err != nil {
		return ProcInfo{}, false
	}
	pi, _, err := parseStat(b)
	return pi, err == nil
}

// findTag scans an environment block (NUL-separated NAME=value entries,
// as /proc/PID/environ gives it) for the first TagVar entry, reading it
// through read into *buf, which it grows only to hold an entry cut by the
// end of a read. It stops reading as soon as the entry is complete. A
// read that fills less than the room offered is taken to be the last,
// as procfs files give all they have when there is room: that saves a
// read per untagged process.
func findTag(buf *[]byte, read func([]byte) (int, error)) (string, bool, error) {
	b := *buf
	n := 0             // bytes kept in b from the previous read
	entryStart := true // b[0] begins an entry
reading:
	for {
		if n == len(b) {
			b = append(b, make([]byte, len(b)+len(tagKey))...)
			*buf = b
		}
		m, err := read(b[n:])
		if err != nil {
			return "", false, err
		}
		last := m < len(b)-n
		n += m
		data := b[:n]
		for off := 0; ; {
			i := bytes.Index(data[off:], tagKey)
			if i < 0 {
				break
			}
			i += off
			if i > 0 && data[i-1] != 0 || i == 0 && !entryStart {
				off = i + 1 // "OTHER=...OTPSV_NODE=" is not the entry
				continue
			}
			v := data[i+len(tagKey):]
			if j := bytes.IndexByte(v, 0); j >= 0 {
				return string(v[:j]), true, nil
			}
			if last {
				return string(v), true, nil // no final NUL
			}
			// Cut by the end of the read: keep it, and read the rest.
			n, entryStart = copy(b, data[i:]), true
			continue reading
		}
		if last {
			return "", false, nil
		}
		// Keep the entry cut by the end of the read if it may still
		// become the tag's.
		if j := bytes.LastIndexByte(data, 0); j >= 0 || entryStart {
			if tail := data[j+1:]; len(tail) < len(tagKey) && bytes.HasPrefix(tagKey, tail) {
				n, entryStart = copy(b, tail), true
				continue
			}
		}
		n, entryStart = 0, false
	}
}
