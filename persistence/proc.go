package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// errBadStat is returned when /proc/<pid>/stat does not have the
// expected shape.
var errBadStat = errors.New("malformed /proc stat line")

// processStartTime returns the start time of process pid, in clock
// ticks since boot (field 22 of /proc/<pid>/stat). Together with the
// pid it names one process: a pid reused by a later process has a
// different start time. A missing process gives an error that wraps
// os.ErrNotExist. It works on Linux only.
func processStartTime(pid int) (uint64, error) {
	_, start, err := procStat(pid)
	return start, err
}

// SameProcess reports whether pid is alive, is not a zombie, and started
// at start (as returned by processStartTime). It is false for pid <= 0,
// for a start of 0, and whenever /proc cannot be read.
func SameProcess(pid int, start uint64) bool {
	if start == 0 {
		return false
	}
	state, got, err := procStat(pid)
	if err != nil {
		return false
	}
	// Z: zombie, X: dead (never seen in practice but documented).
	return state != 'Z' && state != 'X' && got == start
}

// procStat reads /proc/<pid>/stat and returns the state letter (field
// 3) and starttime (field 22).
func procStat(pid int) (byte, uint64, error) {
	if pid <= 0 {
		return 0, 0, fmt.Errorf("process start time: invalid pid %d", pid)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("process start time: %w", err)
	}
	state, start, err := parseStat(b)
	if err != nil {
		return 0, 0, fmt.Errorf("process start time of pid %d: %w", pid, err)
	}
	return state, start, nil
}

// parseStat parses a /proc/<pid>/stat line. Field 2 (comm) is in
// parentheses and may itself contain spaces and parentheses, so the
// fields are counted from the last ')'.
func parseStat(b []byte) (byte, uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errBadStat
	}
	// After ')': field 3 (state) is the first, field 22 the twentieth.
	fields := bytes.Fields(b[i+1:])
	const stateIdx, startIdx = 0, 22 - 3
	if len(fields) <= startIdx || len(fields[stateIdx]) != 1 {
		return 0, 0, errBadStat
	}
	start, err := strconv.ParseUint(string(fields[startIdx]), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: starttime: %w", errBadStat, err)
	}
	return fields[stateIdx][0], start, nil
}
