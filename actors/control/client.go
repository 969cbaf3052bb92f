package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/otpsv/otpsv/config"
)

// ErrNoDaemon means no daemon answers on the socket.
var ErrNoDaemon = errors.New("no daemon is running")

// Client talks to a daemon's control socket.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	return &Client{path: path, http: &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}}
}

// Tree fetches the tree (or the subtree at path).
func (c *Client) Tree(ctx context.Context, path string) (*Node, error) {
	var n Node
	q := ""
	if path != "" {
		q = "?path=" + url.QueryEscape(path)
	}
	if err := c.get(ctx, "/v1/tree"+q, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// Info fetches the daemon's description.
func (c *Client) Info(ctx context.Context) (*Info, error) {
	var i Info
	if err := c.get(ctx, "/v1/info", &i); err != nil {
		return nil, err
	}
	return &i, nil
}

// Command asks the daemon to start, stop or restart the node at path and
// waits until it is done.
func (c *Client) Command(ctx context.Context, verb, path string) error {
	body, _ := json.Marshal(CommandRequest{Verb: verb, Path: path})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://otpsv/v1/command", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	var n Node
	return c.do(req, &n, commandDeadline+2*time.Minute)
}

// Why fetches the supervision history of the node at path.
func (c *Client) Why(ctx context.Context, path string) (*Why, error) {
	var w Why
	if err := c.get(ctx, "/v1/why?path="+url.QueryEscape(path), &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// Reload asks the daemon to re-read its configuration and returns what
// the reload changed (nil from a daemon that does not say).
func (c *Client) Reload(ctx context.Context) ([]config.Change, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://otpsv/v1/reload", nil)
	if err != nil {
		return nil, err
	}
	var a ReloadAnswer
	if err := c.do(req, &a, commandDeadline+2*time.Minute); err != nil {
		return nil, err
	}
	return a.Changes, nil
}

// Definitions fetches the resolved definitions of the tree the daemon
// runs.
func (c *Client) Definitions(ctx context.Context) (*config.Node, error) {
	var n config.Node
	if err := c.get(ctx, "/v1/definitions", &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// StatusError is an error answer of the daemon.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return e.Msg }

func (c *Client) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://otpsv"+path, nil)
	if err != nil {
		return err
	}
	return c.do(req, out, 10*time.Second)
}

func (c *Client) do(req *http.Request, out any, timeout time.Duration) error {
	hc := *c.http
	hc.Timeout = timeout
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w (socket %s)", ErrNoDaemon, c.path)
		}
		// A daemon that is shutting down closes the connections it has
		// not answered: for a query (which changes nothing) it is as good
		// as gone, and the caller reads the saved state instead.
		if req.Method == http.MethodGet && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
			return fmt.Errorf("%w (socket %s: the daemon closed the connection: it is stopping)", ErrNoDaemon, c.path)
		}
		return fmt.Errorf("control socket %s: %w", c.path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = resp.Status
		}
		return &StatusError{Code: resp.StatusCode, Msg: e.Error}
	}
	return json.Unmarshal(body, out)
}
