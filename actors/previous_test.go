package actors

import (
	"reflect"
	"testing"

	"github.com/otpsv/otpsv/actors/proc"
	"github.com/otpsv/otpsv/persistence"
)

func TestDecideTakeOver(t *testing.T) {
	tag := func(pid, pgid int, start uint64) proc.Tagged {
		return proc.Tagged{Pid: pid, Pgid: pgid, StartTime: start, Tag: "i/site/a"}
	}
	saved := persistence.Snapshot{Path: "site/a", State: "running", Pid: 100, PidStart: 5}
	for _, tc := range []struct {
		name string
		in   leftBehind
		want takeOver
	}{
		{"nothing left", leftBehind{}, takeOver{}},
		{"saved process runs: adopted", leftBehind{snap: saved, savedLive: true, tagged: []proc.Tagged{tag(100, 100, 5), tag(101, 100, 6)}},
			takeOver{adopt: proc.Tagged{Pid: 100, Pgid: 100, StartTime: 5}}},
		{"saved process runs: a helper in a session of its own is left alone", leftBehind{snap: saved, savedLive: true, tagged: []proc.Tagged{tag(100, 100, 5), tag(120, 120, 9)}},
			takeOver{adopt: proc.Tagged{Pid: 100, Pgid: 100, StartTime: 5}}},
		{"saved process gone, group empty: start afresh", leftBehind{snap: saved},
			takeOver{empty: []int{100}}},
		{"saved process gone: its group's members are stopped", leftBehind{snap: saved, tagged: []proc.Tagged{tag(102, 100, 7), tag(101, 100, 6)}},
			takeOver{empty: []int{100}}},
		{"pid never saved: the tagged leader is adopted with its group", leftBehind{tagged: []proc.Tagged{tag(200, 200, 9), tag(201, 200, 10)}},
			takeOver{adopt: tag(200, 200, 9), found: true}},
		{"saved process gone, a newer one forked but not saved: adopted, the old group emptied", leftBehind{snap: saved, tagged: []proc.Tagged{tag(101, 100, 6), tag(200, 200, 9)}},
			takeOver{adopt: tag(200, 200, 9), found: true, empty: []int{100}}},
		{"two leaders: the newest is adopted, the other left alone", leftBehind{tagged: []proc.Tagged{tag(300, 300, 20), tag(200, 200, 9)}},
			takeOver{adopt: tag(300, 300, 20), found: true}},
		{"only members of a group whose leader is gone, never saved: stopped", leftBehind{tagged: []proc.Tagged{tag(201, 200, 10)}},
			takeOver{empty: []int{200}}},
		{"saved pid reused by a new leader of ours: no dead group to empty", leftBehind{snap: saved, tagged: []proc.Tagged{tag(100, 100, 50)}},
			takeOver{adopt: tag(100, 100, 50), found: true}},
		{"saved process runs: members of a dead duplicate's group are stopped", leftBehind{snap: saved, savedLive: true, tagged: []proc.Tagged{tag(100, 100, 5), tag(201, 200, 10)}},
			takeOver{adopt: proc.Tagged{Pid: 100, Pgid: 100, StartTime: 5}, empty: []int{200}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decideTakeOver(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
