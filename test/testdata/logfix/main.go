// Command logfix is the worker program of otpsv's log tests (SPEC §8): it
// writes lines on its stdout and stderr, which go through otpsv's log.
//
// Like the fixture, it appends one line "<name> <pid> <pgid>" to the
// -ready file (a single O_APPEND write) once it has written what -out,
// -err and -bytes ask for, then, with -stream, writes lines until killed,
// else sleeps until killed.
//
// Lines:
//
//	-out N, -err M   "out <i>" on stdout, "err <i>" on stderr, i from 0
//	-bytes B         "<seq> <crc32 of payload, hex> <payload>" on stdout,
//	                 seq from 0, in writes of 64 KiB that cut lines
//	                 anywhere, as fast as the pipe takes them, until B
//	                 bytes are written; then the line "end <lines>"
//	-stream          "<seq> <padding>" lines of 100 bytes on stdout, one a
//	                 millisecond, storing the number written in the
//	                 -progress file (20 digits, rewritten in place every
//	                 10 lines) so that a test sees it go on without
//	                 reading the log
//
// A write to a pipe nobody reads kills it with SIGPIPE, as it would most
// programs: what the log tests check does not happen.
package main

import (
	"flag"
	"fmt"
	"hash/crc32"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	name := flag.String("name", "logfix", "name written to the ready file")
	ready := flag.String("ready", "", "file to append \"<name> <pid> <pgid>\" to")
	nOut := flag.Int("out", 0, "lines \"out <i>\" to write on stdout")
	nErr := flag.Int("err", 0, "lines \"err <i>\" to write on stderr")
	bytes := flag.Int64("bytes", 0, "bytes of numbered, checksummed lines to write on stdout")
	stream := flag.Bool("stream", false, "write a line every millisecond until killed")
	progress := flag.String("progress", "", "with -stream: file holding the number of lines written")
	flag.Parse()

	for i := range max(*nOut, *nErr) {
		if i < *nOut {
			fmt.Fprintf(os.Stdout, "out %d\n", i)
		}
		if i < *nErr {
			fmt.Fprintf(os.Stderr, "err %d\n", i)
		}
	}
	if *bytes > 0 {
		writeChecked(*bytes)
	}
	if *ready != "" {
		writeReady(*ready, *name)
	}
	if *stream {
		writeStream(*progress)
	}
	for {
		time.Sleep(time.Hour)
	}
}

// writeChecked writes at least total bytes of lines whose payloads vary
// in length (10 to 200 bytes) and content.
func writeChecked(total int64) {
	var letters [256]byte
	for i := range letters {
		letters[i] = 'a' + byte(i*7%26)
	}
	buf := make([]byte, 0, 128<<10)
	written := int64(0)
	seq := 0
	for written < total {
		at := seq * 13 % 40
		p := letters[at : at+10+seq*31%190]
		buf = strconv.AppendInt(buf, int64(seq), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendUint(buf, uint64(crc32.ChecksumIEEE(p)), 16)
		buf = append(buf, ' ')
		buf = append(buf, p...)
		buf = append(buf, '\n')
		seq++
		if len(buf) >= 64<<10 {
			mustWrite(buf[:64<<10])
			written += 64 << 10
			buf = append(buf[:0], buf[64<<10:]...)
		}
	}
	buf = fmt.Appendf(buf, "end %d\n", seq)
	mustWrite(buf)
}

func mustWrite(b []byte) {
	if _, err := os.Stdout.Write(b); err != nil {
		fail("write: %v", err)
	}
}

func writeStream(progress string) {
	var f *os.File
	if progress != "" {
		var err error
		if f, err = os.OpenFile(progress, os.O_WRONLY|os.O_CREATE, 0o644); err != nil {
			fail("open progress file: %v", err)
		}
	}
	pad := make([]byte, 100)
	for i := range pad {
		pad[i] = '.'
	}
	tick := time.NewTicker(time.Millisecond)
	for seq := 0; ; seq++ {
		line := strconv.AppendInt(nil, int64(seq), 10)
		line = append(line, ' ')
		line = append(line, pad[:99-len(line)]...)
		line = append(line, '\n')
		mustWrite(line)
		if f != nil && (seq+1)%10 == 0 {
			if _, err := f.WriteAt(fmt.Appendf(nil, "%020d", seq+1), 0); err != nil {
				fail("write progress: %v", err)
			}
		}
		<-tick.C
	}
}

func writeReady(path, name string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fail("open ready file: %v", err)
	}
	line := fmt.Sprintf("%s %d %d\n", name, os.Getpid(), syscall.Getpgrp())
	if _, err := f.Write([]byte(line)); err != nil {
		fail("write ready file: %v", err)
	}
	_ = f.Close()
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "logfix: "+format+"\n", args...)
	os.Exit(111)
}
