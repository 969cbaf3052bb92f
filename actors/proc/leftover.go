package proc

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrBadGroup is returned for a Group whose Pgid cannot be a worker's.
var ErrBadGroup = errors.New("not a worker's process group")

// Group is a worker's process group as otpsv recorded it: the pid of the
// process it started (the group's id), that process's start time, and
// the worker's tag (Spec.Tag). It finds and stops what the worker left in
// the group once that process is gone (its grandchildren), which a
// Process cannot do: otpsv may no longer have one (it was killed and
// started again), and a group id is a pid, so it may since have been
// reused.
//
// Members are therefore signalled one by one, by pid and start time,
// never with kill(-pgid), and only those provably the worker's (see
// Leftovers): signalling a process group that someone else's daemon now
// holds would be far worse than leaving a leftover running.
//
// Should the recorded leader still run, it is one of the worker's members
// too: Stop empties the group. A process that now has the group's id as
// its pid (a worker started again, whose pid was never saved, say) means
// the recorded group had emptied before it got that pid: there is nothing
// of the recorded group left, and its tagged processes, the new worker
// included, would count as leftovers. Adopt that process instead of
// calling Stop.
type Group struct {
	Pgid int
	// LeaderStart is the start time of the group's leader (the process
	// otpsv started), in clock ticks since boot (Process.StartTime).
	LeaderStart uint64
	// Tag is the worker's tag; "" when it had none.
	Tag string
}

// Leftovers returns the live members of the group (zombies, otpsv itself
// and its ancestors left out), in two lists: ours, those provably the
// worker's, which Stop stops; and unproven, the others, which nothing
// here touches (the caller may report them).
//
// A member is the worker's when it carries the worker's tag, or when the
// group provably still is the worker's and the member started no earlier
// than the leader. The group provably is the worker's while its leader's
// pid is held by the recorded process (alive or a zombie), or while a
// member carries the worker's tag: the kernel does not give a group's id
// to a new process while any process is in the group. When the leader is
// gone and no member is tagged, the group may have emptied and its id
// been taken by an unrelated process that made a group of its own and
// left it, as every daemon that forks twice does; and when the leader's
// pid names another process, the group certainly is someone else's: in
// both cases only tagged members are the worker's.
//
// So a member whose environment otpsv cannot read (another user's, when
// otpsv is not root) or that replaced it (env -i, or a title written over
// it, see FindTagged) is the worker's only beside its leader or a tagged
// member.
func (g Group) Leftovers() (ours, unproven []Tagged, err error) {
	vouched := false
	return g.scan(&vouched)
}

// scan is Leftovers, with *vouched carried from one scan of a Stop to the
// next: once the group was seen to be the worker's, it stays so for as
// long as it is never seen empty. Between two scans a few milliseconds
// apart, the group would have to empty and its id be reused, which takes
// the pid numbers to wrap around.
func (g Group) scan(vouched *bool) (ours, unproven []Tagged, err error) {
	if g.Pgid <= 1 {
		return nil, nil, fmt.Errorf("process group %d: %w", g.Pgid, ErrBadGroup)
	}
	names, err := listProc()
	if err != nil {
		return nil, nil, fmt.Errorf("process group %d: %w", g.Pgid, err)
	}
	self := selfAndAncestors()
	var r procReader
	var s tagScanner
	var members []Tagged
	replaced := false
	for _, name := range names {
		b, err := r.read("/proc/" + name + "/stat")
		if err != nil {
			continue
		}
		pi, flags, err := parseStat(b)
		if err != nil || flags&pfKthread != 0 {
			continue
		}
		if pi.Pid == g.Pgid {
			if g.LeaderStart != 0 && pi.StartTime == g.LeaderStart {
				*vouched = true
			} else {
				replaced = true
			}
		}
		if pi.Pgid != g.Pgid || pi.State == 'Z' || pi.State == 'X' || self[pi.Pid] {
			continue
		}
		tag, ok := s.memberTag(pi)
		if !ok {
			continue // gone since
		}
		members = append(members, Tagged{Pid: pi.Pid, PPid: pi.PPid, Pgid: pi.Pgid, Sid: pi.Sid, StartTime: pi.StartTime, Tag: tag})
	}
	if replaced || len(members) == 0 {
		*vouched = false
	}
	for _, m := range members {
		if g.Tag != "" && m.Tag == g.Tag && !replaced {
			*vouched = true
		}
	}
	for _, m := range members {
		if g.Tag != "" && m.Tag == g.Tag || *vouched && m.StartTime >= g.LeaderStart {
			ours = append(ours, m)
		} else {
			unproven = append(unproven, m)
		}
	}
	return ours, unproven, nil
}

// memberTag reads the tag of pi's process, through an open /proc/PID
// directory whose stat shows pi's start time: the tag is that process's.
// It reports false when the process is gone; a tag it may not read is "".
func (s *tagScanner) memberTag(pi ProcInfo) (string, bool) {
	dir, err := unix.Open(fmt.Sprintf("/proc/%d", pi.Pid), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	defer unix.Close(dir)
	cur, ok := s.statAt(dir)
	if !ok || cur.StartTime != pi.StartTime {
		return "", false
	}
	tag, _ := s.tagAt(dir)
	return tag, true
}

// Stop stops the worker's leftovers in the group (ours, as Leftovers
// finds them): sig to each, then SIGKILL to those still alive after grace
// (or at once when hurry is closed), as Process.Stop does for a group it
// can signal whole. The group is scanned again while it waits, and a
// member forked meanwhile is signalled too; a signalled process that
// leaves the group is still waited for. It returns once none is left,
// with the members it left alone (the unproven of the last scan); the
// error wraps ErrGroupSurvived, and names the pids and any signal that
// failed (EPERM: another user's process), when some outlived SIGKILL by
// killWait or ctx ended first. A group with nothing of the worker's left
// costs one scan of the process table.
func (g Group) Stop(ctx context.Context, sig syscall.Signal, grace time.Duration, hurry <-chan struct{}) (unproven []Tagged, err error) {
	st := groupStop{g: g, sent: map[int]uint64{}, failed: map[int]error{}}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	done, err := st.run(ctx, sig, timer.C, hurry)
	if done || err != nil {
		return st.unproven, err
	}
	st.sent = map[int]uint64{} // each gets SIGKILL, even if it had sig
	kctx, cancel := context.WithTimeout(ctx, killWait)
	defer cancel()
	if done, err = st.run(kctx, syscall.SIGKILL, nil, nil); done || err != nil {
		return st.unproven, err
	}
	pids := make([]int, len(st.live))
	errs := []error{nil}
	for i, t := range st.live {
		pids[i] = t.Pid
		if err := st.failed[t.Pid]; err != nil {
			errs = append(errs, fmt.Errorf("signal %d: %w", t.Pid, err))
		}
	}
	errs[0] = fmt.Errorf("process group %d: pids %v: %w", g.Pgid, pids, ErrGroupSurvived)
	return st.unproven, errors.Join(errs...)
}

// groupStop is the state of one Group.Stop.
type groupStop struct {
	g       Group
	vouched bool
	// signalled is every process signalled, by pid, with its start time:
	// one that left the group is still waited for.
	signalled map[int]Tagged
	sent      map[int]uint64 // pid: start time, of those sent this round's signal
	failed    map[int]error
	live      []Tagged // what the last scan left alive
	unproven  []Tagged
}

// run signals sig to the worker's members not yet sent it, scans again
// and again (backing off from 1ms to 50ms) and signals those new since,
// until none is alive (done), or stop or hurry fires or ctx ends.
func (st *groupStop) run(ctx context.Context, sig syscall.Signal, stop <-chan time.Time, hurry <-chan struct{}) (done bool, err error) {
	if st.signalled == nil {
		st.signalled = map[int]Tagged{}
	}
	var r procReader
	backoff := time.Millisecond
	for {
		ours, unproven, err := st.g.scan(&st.vouched)
		if err != nil {
			return false, err
		}
		st.unproven = unproven
		inScan := make(map[int]bool, len(ours))
		st.live = st.live[:0]
		for _, t := range ours {
			inScan[t.Pid] = true
			st.signalled[t.Pid] = t
			if !st.signal(t, sig) {
				continue
			}
			st.live = append(st.live, t)
		}
		for pid, t := range st.signalled {
			if inScan[pid] {
				continue
			}
			if !r.same(t.info()) {
				delete(st.signalled, pid)
				continue
			}
			if st.signal(t, sig) {
				st.live = append(st.live, t)
			}
		}
		if len(st.live) == 0 {
			return true, nil
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return false, nil
		case <-hurry:
			t.Stop()
			return false, nil
		case <-ctx.Done():
			t.Stop()
			return false, nil
		}
		if backoff < 50*time.Millisecond {
			backoff *= 2
		}
	}
}

// signal sends sig (and SIGCONT after it, as a stopped process would
// never act on sig) to t unless it was sent already, and reports whether
// t is still to be waited for. A failure other than the process being
// gone is recorded, and the process kept.
func (st *groupStop) signal(t Tagged, sig syscall.Signal) bool {
	if start, ok := st.sent[t.Pid]; ok && start == t.StartTime {
		return true
	}
	err := signalSame(t.info(), sig)
	if errors.Is(err, errGone) {
		return false
	}
	st.sent[t.Pid] = t.StartTime
	if err != nil {
		st.failed[t.Pid] = err
		return true
	}
	if sig != syscall.SIGCONT && sig != syscall.SIGKILL {
		_ = signalSame(t.info(), syscall.SIGCONT)
	}
	return true
}
