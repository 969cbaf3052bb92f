package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/otpsv/otpsv/config"
)

// SocketName is the control socket's file name inside state_dir.
const SocketName = "otpsv.sock"

// Node is one node of the tree as served: the shape of `tree --json`.
type Node struct {
	Name     string    `json:"name"`
	Path     string    `json:"path"`
	Type     string    `json:"type"`
	Strategy string    `json:"strategy,omitempty"`
	State    string    `json:"state"`
	Expected string    `json:"expected"`
	Pid      *int      `json:"pid"`
	Since    time.Time `json:"since"`
	Restarts int       `json:"restarts"`
	// Done marks a worker whose restart type lets it end and which ended
	// normally: stopped, and as expected.
	Done bool `json:"done,omitempty"`
	// AdminStopped marks a node an operator stopped (`otpsv stop`): it is
	// expected stopped until `otpsv start`.
	AdminStopped bool `json:"admin_stopped,omitempty"`
	// Ready is set for a worker that is starting or running: false until
	// its readiness signal and probe said ready, and while a readiness
	// probe says it is not.
	Ready *bool `json:"ready,omitempty"`
	// Intensity and RestartsInPeriod, on supervisors: the restart budget
	// and how much of it the supervisor used in the current period.
	Intensity        int `json:"intensity,omitempty"`
	RestartsInPeriod int `json:"restarts_in_period,omitempty"`
	// Message is the worker's own word on its state (sd_notify STATUS=).
	Message  string  `json:"message,omitempty"`
	Children []*Node `json:"children,omitempty"`
}

// HistoryEntry is one supervision event of a node, as `otpsv why` shows.
type HistoryEntry struct {
	Time time.Time `json:"time"`
	// Event is what happened: "failed" (the node itself failed), "restarted"
	// (restarted with a failed sibling), "gave_up", "operator_stop",
	// "operator_start", "operator_restart".
	Event string `json:"event"`
	// Detail is what was detected ("exit 1", "killed by signal KILL").
	Detail string `json:"detail,omitempty"`
	// Cause is the path of the node whose failure this entry follows from.
	Cause string `json:"cause,omitempty"`
	// Supervisor and Strategy: who decided, and by which strategy.
	Supervisor string `json:"supervisor,omitempty"`
	Strategy   string `json:"strategy,omitempty"`
	// Action is the decision: "restart", "ignore" (restart type says stay
	// down) or "give_up".
	Action string `json:"action,omitempty"`
	// Delay is the wait before the restart (Action "backoff").
	Delay time.Duration `json:"delay,omitempty"`
	// Restarted lists the paths restarted together because of the event.
	Restarted []string `json:"restarted,omitempty"`
	// Budget is the supervisor's restart budget left in its period after
	// the decision.
	Budget int `json:"budget"`
}

// Why is the answer of GET /v1/why: a node's recent supervision history
// and its supervisor's restart budget now.
type Why struct {
	Node       *Node          `json:"node"`
	Supervisor string         `json:"supervisor,omitempty"`
	Intensity  int            `json:"intensity"`
	Period     string         `json:"period"`
	Used       int            `json:"used"`
	Left       int            `json:"left"`
	History    []HistoryEntry `json:"history"`
}

// Info describes the daemon that answers.
type Info struct {
	Pid     int       `json:"pid"`
	Started time.Time `json:"started"`
	Version string    `json:"version"`
	Config  string    `json:"config"`
}

// Backend is what the server needs of a running tree.
type Backend interface {
	Tree() *Node
	// Why returns the supervision history of the node at path, or nil.
	Why(path string) *Why
	// Command starts, stops or restarts the node at path and returns
	// when that is done.
	Command(ctx context.Context, verb, path string) error
	// Reload re-reads the configuration and applies the difference; a bad
	// configuration is refused with its errors and changes nothing.
	Reload(ctx context.Context) error
}

// Planner is a Backend that also tells which definitions it runs (GET
// /v1/definitions, what `otpsv plan` compares a new config with) and what
// a reload changed (the changes in the answer of POST /v1/reload). The
// daemon's backend is one.
type Planner interface {
	Backend
	// Definitions returns the resolved definitions of the tree that runs,
	// which the caller must not modify.
	Definitions() *config.Node
	// ReloadPlan is Reload that also returns what the reload did: the
	// changes of config.Diff from the definitions that ran to the new
	// ones, unchanged nodes left out.
	ReloadPlan(ctx context.Context) ([]config.Change, error)
}

// ReloadAnswer is the answer of POST /v1/reload: the tree once the reload
// is done, with the changes it made (a Planner's; null otherwise).
type ReloadAnswer struct {
	*Node
	Changes []config.Change `json:"changes"`
}

// CommandRequest is the body of POST /v1/command.
type CommandRequest struct {
	Verb string `json:"verb"` // start, stop or restart
	Path string `json:"path"`
}

// commandDeadline bounds one operator command: stopping a subtree may take
// the sum of its workers' stop timeouts.
const commandDeadline = 10 * time.Minute

// Server serves the control socket.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	path string
}

const (
	maxBody    = 64 << 10
	maxHeader  = 16 << 10
	ioDeadline = 10 * time.Second
)

// Listen creates the socket at path (replacing a stale one: the caller
// holds the state_dir lock, so no live daemon owns it) and serves it until
// Close.
func Listen(path string, b Backend, info Info, log *slog.Logger) (*Server, error) {
	return listen(path, b, info, log, ioDeadline)
}

// listen is Listen with the bound on reading a request and writing an
// answer: tests shorten it to see a stalled client refused.
func listen(path string, b Backend, info Info, log *slog.Logger, ioTimeout time.Duration) (*Server, error) {
	ln, err := listenPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, info) })
	mux.HandleFunc("GET /v1/tree", func(w http.ResponseWriter, r *http.Request) {
		root := b.Tree()
		if p := strings.Trim(r.URL.Query().Get("path"), "/"); p != "" {
			if root = Find(root, p); root == nil {
				writeError(w, http.StatusNotFound, fmt.Errorf("no node %q", p))
				return
			}
		}
		writeJSON(w, http.StatusOK, root)
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := readEmpty(r.Body); err != nil {
			writeBodyError(w, err)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Now().Add(commandDeadline + time.Minute))
		ctx, cancel := context.WithTimeout(r.Context(), commandDeadline)
		defer cancel()
		var changes []config.Change
		var err error
		if p, ok := b.(Planner); ok {
			changes, err = p.ReloadPlan(ctx)
			changes = withFields(changes)
		} else {
			err = b.Reload(ctx)
		}
		if err != nil {
			writeError(w, http.StatusConflict, err)
			return
		}
		writeJSON(w, http.StatusOK, ReloadAnswer{Node: b.Tree(), Changes: changes})
	})
	mux.HandleFunc("GET /v1/definitions", func(w http.ResponseWriter, _ *http.Request) {
		p, ok := b.(Planner)
		if !ok {
			writeError(w, http.StatusNotFound, errors.New("this daemon does not serve its definitions"))
			return
		}
		writeJSON(w, http.StatusOK, p.Definitions())
	})
	mux.HandleFunc("GET /v1/why", func(w http.ResponseWriter, r *http.Request) {
		p := strings.Trim(r.URL.Query().Get("path"), "/")
		why := b.Why(p)
		if why == nil {
			writeError(w, http.StatusNotFound, fmt.Errorf("no node %q", p))
			return
		}
		writeJSON(w, http.StatusOK, why)
	})
	mux.HandleFunc("POST /v1/command", func(w http.ResponseWriter, r *http.Request) {
		var req CommandRequest
		if err := decodeBody(r.Body, &req); err != nil {
			writeBodyError(w, err)
			return
		}
		switch req.Verb {
		case "start", "stop", "restart":
		default:
			writeError(w, http.StatusBadRequest, fmt.Errorf("bad request: verb %q: want start, stop or restart", req.Verb))
			return
		}
		req.Path = strings.Trim(req.Path, "/")
		if Find(b.Tree(), req.Path) == nil {
			writeError(w, http.StatusNotFound, fmt.Errorf("no node %q", req.Path))
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Now().Add(commandDeadline + time.Minute))
		ctx, cancel := context.WithTimeout(r.Context(), commandDeadline)
		defer cancel()
		if err := b.Command(ctx, req.Verb, req.Path); err != nil {
			writeError(w, http.StatusConflict, err)
			return
		}
		writeJSON(w, http.StatusOK, b.Tree())
	})
	s := &Server{
		ln:   ln,
		path: path,
		srv: &http.Server{
			Handler: peerCheck(http.MaxBytesHandler(mux, maxBody), os.Getuid(), log),
			// The peer's uid is read once per connection (SO_PEERCRED) and
			// checked for every request, so a refused client gets a
			// proper 403 answer rather than a connection closed under it.
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				uid, err := peerUID(c)
				if err != nil {
					uid = -1
				}
				return context.WithValue(ctx, peerKey{}, uid)
			},
			// A client that stalls must not hold a connection forever.
			ReadHeaderTimeout: ioTimeout,
			ReadTimeout:       ioTimeout,
			WriteTimeout:      ioTimeout,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    maxHeader,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
	}
	go func() { _ = s.srv.Serve(s.ln) }()
	return s, nil
}

// bindDir is the private directory the socket is bound in before it is
// moved to its path. Its name is as long as SocketName's, so that a
// state_dir whose socket path fits in sun_path's 108 bytes still fits.
const bindDir = ".sockdir"

// listenPrivate binds a unix socket that appears at path with mode 0600
// and never with a wider one. bind(2) applies the umask, and the umask is
// process-wide: narrowing it here would narrow every file and directory
// created meanwhile by other goroutines, and the umask of every worker
// forked meanwhile. Instead the socket is bound in a fresh 0700 directory
// that no one else can enter, given its mode there, and renamed into
// place (a rename, atomic, also replaces a stale socket).
func listenPrivate(path string) (net.Listener, error) {
	dir := filepath.Join(filepath.Dir(path), bindDir)
	// A leftover of a daemon killed between bind and rename: ours (the
	// caller holds the state_dir lock).
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	// The umask may have taken the owner's own bits.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, err
	}
	// The listener knows the socket by its bind name, which is gone once
	// renamed: Close removes the socket at its real path.
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		_ = ln.Close()
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = ln.Close()
		return nil, err
	}
	return ln, nil
}

// Close stops serving and removes the socket.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	_ = os.Remove(s.path)
	return err
}

type peerKey struct{}

// peerCheck serves only otpsv's own uid and root.
func peerCheck(next http.Handler, own int, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, _ := r.Context().Value(peerKey{}).(int)
		if uid != own && uid != 0 {
			log.Warn("control: refused a client", "uid", uid)
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusForbidden, errors.New("permission denied"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func peerUID(c net.Conn) (int, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1, errors.New("not a unix connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1, err
	}
	uid := -1
	var cerr error
	err = raw.Control(func(fd uintptr) {
		cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
		if err != nil {
			cerr = err
			return
		}
		uid = int(cred.Uid)
	})
	if err == nil {
		err = cerr
	}
	return uid, err
}

// errTrailingData is a request body with more than white space after its
// JSON value; errUnexpectedBody a body where none is expected.
var (
	errTrailingData   = errors.New("data after the JSON value")
	errUnexpectedBody = errors.New("this request takes no body")
)

// decodeBody decodes a request body that must hold exactly one JSON value
// and be complete. The body is read to its end before anything is carried
// out: a command followed by junk, or in a body cut short (a chunked body
// without its last chunk, fewer bytes than Content-Length, a client gone)
// may not be the command the client meant, so it is refused.
func decodeBody(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	var extra json.RawMessage
	err := dec.Decode(&extra)
	var syntax *json.SyntaxError
	switch {
	case err == io.EOF: // io.EOF itself: the body ended cleanly
		return nil
	case err == nil:
		return errTrailingData
	case errors.As(err, &syntax):
		return fmt.Errorf("%w: %w", errTrailingData, err)
	default:
		return fmt.Errorf("incomplete body: %w", err)
	}
}

// readEmpty reads a body that must be empty but for white space, to its
// end.
func readEmpty(body io.Reader) error {
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("incomplete body: %w", err)
	}
	if len(bytes.TrimSpace(b)) > 0 {
		return errUnexpectedBody
	}
	return nil
}

// writeBodyError answers a request whose body was refused: 413 when it was
// too big, 400 otherwise.
func writeBodyError(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		code = http.StatusRequestEntityTooLarge
	}
	// A body that stalled until the read deadline leaves the write
	// deadline (which runs from the end of the headers) about as spent:
	// the client is still told why.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(ioDeadline))
	writeError(w, code, fmt.Errorf("bad request: %w", err))
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, errorBody{Error: err.Error()})
}

// withFields gives every change a fields list, empty rather than null, as
// `otpsv plan --json` shows them; and the answer a list, never null.
func withFields(changes []config.Change) []config.Change {
	out := make([]config.Change, len(changes))
	for i, c := range changes {
		if c.Fields == nil {
			c.Fields = []string{}
		}
		out[i] = c
	}
	return out
}

// Find returns the node at path within root, or nil.
func Find(root *Node, path string) *Node {
	if root == nil {
		return nil
	}
	if root.Path == path {
		return root
	}
	for _, c := range root.Children {
		if c.Path == path || strings.HasPrefix(path, c.Path+"/") {
			return Find(c, path)
		}
	}
	return nil
}
