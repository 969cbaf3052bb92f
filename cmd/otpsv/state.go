package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors/control"
	"github.com/otpsv/otpsv/config"
	"github.com/otpsv/otpsv/persistence"
)

// StoreDir is where the Badger store lives inside state_dir.
const storeDir = "state"

// startupWait bounds how long a query that finds the state_dir owned waits
// for its owner: a daemon starting up listens on its socket moments after
// it takes the lock, and a oneshot pass ends.
const startupWait = 5 * time.Second

// errDaemonAnswers says that a daemon started answering on the socket
// while a query waited to read the saved state: the query should ask it.
var errDaemonAnswers = errors.New("a daemon started answering while the saved state was being read")

// readLock takes the state_dir's lock to read the saved state. Held by
// its owner, it waits up to startupWait for the owner to let go (a pass)
// or to answer on the socket (a daemon starting up: errDaemonAnswers). It
// never makes an owner fail: the reader's hold is brief, and an owner
// waits it out (see persistence.AcquireLock).
func readLock(ctx context.Context, dir string) (*persistence.Lock, error) {
	sock := filepath.Join(dir, control.SocketName)
	client := control.NewClient(sock)
	deadline := time.Now().Add(startupWait)
	for {
		l, err := persistence.AcquireReadLock(dir)
		var le *persistence.LockedError
		if err == nil || !errors.As(err, &le) {
			if err != nil {
				return nil, exitWith(exitFailed, err)
			}
			return l, nil
		}
		if le.Role == persistence.Owner && daemonAnswers(ctx, client) {
			return nil, exitWith(exitTempErr, fmt.Errorf("%w (pid %d); ask again", errDaemonAnswers, le.Pid))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if le.Role == persistence.Owner {
				err = fmt.Errorf("%w, which did not answer on %s within %v (a oneshot pass, or a daemon still starting)", err, sock, startupWait)
			}
			return nil, exitWith(exitTempErr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// daemonAnswers reports whether a daemon answers on the socket.
func daemonAnswers(ctx context.Context, client *control.Client) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := client.Info(ctx)
	return err == nil
}

// ownState resolves and creates the state_dir and takes its lock, as the
// one otpsv acting on it (a daemon, a pass, a direct node command); held by
// another owner, that is exit status 75, naming the holder's pid. A query
// reading the saved state is waited out, never a reason to fail.
func ownState(c *cli.Context, cfg *config.Config) (string, *persistence.Lock, error) {
	dir, err := stateDir(c, cfg)
	if err != nil {
		return "", nil, err
	}
	lock, err := persistence.AcquireLock(dir)
	if err != nil {
		if errors.Is(err, persistence.ErrLocked) {
			return "", nil, exitWith(exitTempErr, err)
		}
		return "", nil, exitWith(exitFailed, err)
	}
	return dir, lock, nil
}

// openStore opens the state store; a damaged one is a clear error.
func openStore(dir string) (*persistence.Store, error) {
	st, err := persistence.Open(filepath.Join(dir, storeDir))
	switch {
	case errors.Is(err, persistence.ErrLocked):
		return nil, exitWith(exitTempErr, err)
	case err != nil:
		return nil, exitWith(exitFailed, err)
	}
	return st, nil
}

// savedState reads the last saved state when no daemon answers. It needs
// the config (for the tree's shape) and the state_dir's lock (readLock:
// an error wrapping errDaemonAnswers when a daemon came up meanwhile).
func savedState(c *cli.Context) (*config.Config, map[string]persistence.Snapshot, time.Time, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	dir, err := cfg.ResolveStateDir(c.String("state-dir"))
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	noState := fmt.Errorf("%w on %s, and no saved state", control.ErrNoDaemon, dir)
	if !hasFiles(filepath.Join(dir, storeDir)) {
		return nil, nil, time.Time{}, exitWith(exitFailed, noState)
	}
	lock, err := readLock(c.Context, dir)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	defer func() { _ = lock.Release() }()
	st, err := openStore(dir)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	defer func() { _ = persistence.CloseWithin(st, 10*time.Second) }()
	snaps, err := st.All()
	if err != nil {
		return nil, nil, time.Time{}, exitWith(exitFailed, err)
	}
	if len(snaps) == 0 {
		return nil, nil, time.Time{}, exitWith(exitFailed, noState)
	}
	saved, _ := st.SavedAt()
	return cfg, snaps, saved, nil
}

func hasFiles(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*"))
	return len(m) > 0
}
