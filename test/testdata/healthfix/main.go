// Command healthfix is the worker program of otpsv's health tests (SPEC
// §6): it speaks sd_notify, writes on a notification descriptor, serves
// HTTP readiness and liveness endpoints whose answers a test changes by
// writing files, and sends watchdog keep-alives.
//
// Like the fixture, it appends one line "<name> <pid> <pgid> <unix-nanos>"
// to the -ready file when it starts (a single O_APPEND write). Other lines
// it appends, all of that form, say what it did and when:
//
//	<name>.gc      its grandchild started (-child)
//	<name>.notify  READY=1 is about to be sent (pid: the sender)
//	<name>.fd      the newline is about to be written on -fd
//	<name>.wd      a WATCHDOG=1 keep-alive is about to be sent
//
// Before its start line it writes -env-file, a JSON object:
//
//	{"pid": 123, "env": {"NOTIFY_SOCKET": "...", ...}, "http": "127.0.0.1:PORT"}
//
// where env holds only the variables that are set (NOTIFY_SOCKET,
// WATCHDOG_USEC, WATCHDOG_PID) and http is the address -http listens on
// (with port 0 resolved). A test that waits for the n-th start line reads
// the env file of that run.
//
// HTTP (-http ADDR): GET /ready and /live answer from -mode-dir: the file
// DIR/KIND.PID (this process only) or else DIR/KIND holds "ok" (200),
// "fail" (503) or "slow" (5s, then 200); missing means ok. GET /close
// answers 200 and closes the listener, so that a TCP probe fails. GET
// /stats answers "requests N", the /ready and /live requests served (the
// benchmark's check that the probes ran).
//
// sd_notify is written by hand: a datagram on the unix socket named by
// NOTIFY_SOCKET ("@name" is an abstract socket), no libraries.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	name := flag.String("name", "healthfix", "name written to the ready file")
	ready := flag.String("ready", "", "file to append \"<name> <pid> <pgid> <unix-nanos>\" lines to")
	envFile := flag.String("env-file", "", "write the notify environment, pid and HTTP address here as JSON")
	notifyAfter := flag.Duration("notify-after", -1, "send READY=1 this long after starting (negative: never, unless -notify-on)")
	notifyOn := flag.String("notify-on", "", "send READY=1 once this file exists (then after -notify-after, if given)")
	status := flag.String("status", "", "STATUS= text sent with READY=1")
	statusOn := flag.String("status-on", "", "send STATUS=<-status> alone, without READY=1, once this file exists")
	notifyFromChild := flag.Bool("notify-from-child", false, "send READY=1 from a child process in our process group, which then stays")
	watchdog := flag.Bool("watchdog", false, "send WATCHDOG=1 every WATCHDOG_USEC/3")
	watchdogStop := flag.Duration("watchdog-stop-after", 0, "stop the keep-alives this long after starting (0: never)")
	watchdogTrigger := flag.Duration("watchdog-trigger-after", 0, "send WATCHDOG=trigger this long after starting (0: never)")
	fd := flag.Int("fd", -1, "write a newline on this descriptor (s6 notification-fd), then close it")
	fdAfter := flag.Duration("fd-after", 0, "with -fd: this long after starting")
	fdOn := flag.String("fd-on", "", "with -fd: once this file exists (then after -fd-after)")
	httpAddr := flag.String("http", "", "serve GET /ready, /live and /close on this address")
	modeDir := flag.String("mode-dir", "", "directory of the files ready, live (and ready.PID, live.PID) that decide the HTTP answers")
	child := flag.Bool("child", false, "start a grandchild in our process group first; it writes \"<name>.gc\" lines")
	exitAfter := flag.Duration("exit-after", 0, "exit this long after starting (0: never)")
	code := flag.Int("code", 0, "exit code for -exit-after")
	grandchild := flag.Bool("grandchild", false, "internal: run as the grandchild")
	notifyChild := flag.Bool("notify-child", false, "internal: run as the child that sends READY=1")
	flag.Parse()

	switch {
	case *grandchild:
		runGrandchild(*name, *ready)
	case *notifyChild:
		runNotifyChild(*name, *ready, *status)
	}

	start := time.Now()
	if *child {
		startGrandchild(*name, *ready)
	}
	var ln net.Listener
	if *httpAddr != "" {
		var err error
		if ln, err = net.Listen("tcp", *httpAddr); err != nil {
			fail("listen: %v", err)
		}
		go serve(ln, *modeDir)
	}
	if *envFile != "" {
		writeEnv(*envFile, ln)
	}
	appendLine(*ready, *name)

	if *notifyOn != "" || *notifyAfter >= 0 {
		go func() {
			waitFile(*notifyOn)
			time.Sleep(max(*notifyAfter, 0))
			if *notifyFromChild {
				startNotifyChild(*name, *ready, *status)
				return
			}
			appendLine(*ready, *name+".notify")
			notify(readyMessage(*status))
		}()
	}
	if *statusOn != "" {
		go func() {
			waitFile(*statusOn)
			notify("STATUS=" + *status)
		}()
	}
	if *fd >= 0 {
		go func() {
			waitFile(*fdOn)
			time.Sleep(*fdAfter)
			appendLine(*ready, *name+".fd")
			f := os.NewFile(uintptr(*fd), "notification-fd")
			if _, err := f.Write([]byte("\n")); err != nil {
				fail("write on fd %d: %v", *fd, err)
			}
			_ = f.Close()
		}()
	}
	if *watchdog {
		go keepAlive(*name, *ready, start, *watchdogStop)
	}
	if *watchdogTrigger > 0 {
		time.AfterFunc(time.Until(start.Add(*watchdogTrigger)), func() { notify("WATCHDOG=trigger") })
	}
	if *exitAfter > 0 {
		time.AfterFunc(time.Until(start.Add(*exitAfter)), func() { os.Exit(*code) })
	}
	sleepForever()
}

func readyMessage(status string) string {
	msg := "READY=1"
	if status != "" {
		msg += "\nSTATUS=" + status
	}
	return msg
}

// keepAlive sends WATCHDOG=1 every WATCHDOG_USEC/3 until stopAfter (from
// start) has passed.
func keepAlive(name, ready string, start time.Time, stopAfter time.Duration) {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		fail("-watchdog: WATCHDOG_USEC %q: %v", os.Getenv("WATCHDOG_USEC"), err)
	}
	every := time.Duration(usec) * time.Microsecond / 3
	for {
		if stopAfter > 0 && time.Since(start) >= stopAfter {
			return
		}
		appendLine(ready, name+".wd")
		notify("WATCHDOG=1")
		time.Sleep(every)
	}
}

// notify sends one sd_notify datagram to NOTIFY_SOCKET.
func notify(msg string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		fail("notify %q: NOTIFY_SOCKET is not set", msg)
	}
	// Go's unix addresses already map a leading '@' to the abstract
	// namespace, as sd_notify does.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		fail("notify %q: %v", msg, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		fail("notify %q: %v", msg, err)
	}
}

// waitFile returns once path exists ("" at once). A test creates the file
// to say "now"; polling is this program's business, not otpsv's.
func waitFile(path string) {
	for path != "" {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serve answers /ready and /live from the mode files, counts them for
// /stats, and closes the listener on /close.
func serve(ln net.Listener, modeDir string) {
	var served atomic.Int64
	mux := http.NewServeMux()
	for _, kind := range []string{"ready", "live"} {
		mux.HandleFunc("/"+kind, func(w http.ResponseWriter, _ *http.Request) {
			served.Add(1)
			switch mode(modeDir, kind) {
			case "fail":
				http.Error(w, kind+": fail", http.StatusServiceUnavailable)
				return
			case "slow":
				time.Sleep(5 * time.Second)
			}
			fmt.Fprintln(w, "ok")
		})
	}
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "requests %d\n", served.Load())
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "closing")
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		_ = ln.Close()
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
		fail("serve: %v", err)
	}
}

// mode is the content of DIR/KIND.PID, else DIR/KIND, else "ok".
func mode(dir, kind string) string {
	if dir == "" {
		return "ok"
	}
	for _, name := range []string{fmt.Sprintf("%s.%d", kind, os.Getpid()), kind} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return "ok"
}

// writeEnv writes the env file in one rename, so that a reader never sees
// half of it.
func writeEnv(path string, ln net.Listener) {
	out := struct {
		Pid  int               `json:"pid"`
		Env  map[string]string `json:"env"`
		HTTP string            `json:"http,omitempty"`
	}{Pid: os.Getpid(), Env: map[string]string{}}
	for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		if v, ok := os.LookupEnv(k); ok {
			out.Env[k] = v
		}
	}
	if ln != nil {
		out.HTTP = ln.Addr().String()
	}
	b, err := json.Marshal(out)
	if err != nil {
		fail("env file: %v", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		fail("env file: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		fail("env file: %v", err)
	}
}

// startGrandchild re-executes this program as a grandchild in our process
// group and waits until it has written its line (it closes a pipe).
func startGrandchild(name, ready string) {
	r, w, err := os.Pipe()
	if err != nil {
		fail("pipe: %v", err)
	}
	cmd := exec.Command(self(), "-grandchild", "-name", name+".gc", "-ready", ready)
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		fail("start grandchild: %v", err)
	}
	_ = w.Close()
	var buf [1]byte
	_, _ = r.Read(buf[:]) // EOF once the grandchild closed fd 3
	_ = r.Close()
	_ = cmd.Process.Release()
}

func runGrandchild(name, ready string) {
	appendLine(ready, name)
	_ = os.NewFile(3, "parent-pipe").Close()
	sleepForever()
}

// startNotifyChild starts the child that sends READY=1 for us. It stays
// alive, in our process group, so that otpsv can tell whose group the
// sender is in whenever it looks.
func startNotifyChild(name, ready, status string) {
	cmd := exec.Command(self(), "-notify-child", "-name", name, "-ready", ready, "-status", status)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fail("start notify child: %v", err)
	}
	_ = cmd.Process.Release()
}

func runNotifyChild(name, ready, status string) {
	appendLine(ready, name+".notify")
	notify(readyMessage(status))
	sleepForever()
}

// sleepForever blocks until the process is killed (a bare select{} would
// be a deadlock when no other goroutine is left).
func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

func self() string {
	p, err := os.Executable()
	if err != nil {
		fail("executable: %v", err)
	}
	return p
}

func appendLine(path, name string) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fail("open ready file: %v", err)
	}
	defer f.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %d %d %d\n", name, os.Getpid(), syscall.Getpgrp(), time.Now().UnixNano())
	if _, err := f.Write(b.Bytes()); err != nil { // one write(2): atomic with O_APPEND
		fail("write ready file: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "healthfix: "+format+"\n", args...)
	os.Exit(111)
}
