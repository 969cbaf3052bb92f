package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables read by the helpers below.
const (
	EnvStateDir = "OTPSV_STATE_DIR"
	EnvConfig   = "OTPSV_CONFIG"
)

// DefaultConfigFile is the configuration file used when neither
// --config nor $OTPSV_CONFIG names one.
const DefaultConfigFile = "otpsv.yaml"

// DefaultConfigPath returns the configuration file to read: flag (the
// value of --config) when set, else $OTPSV_CONFIG when set, else
// otpsv.yaml in the current directory.
func DefaultConfigPath(flag string) string {
	if flag != "" {
		return flag
	}
	if p := os.Getenv(EnvConfig); p != "" {
		return p
	}
	return DefaultConfigFile
}

// ResolveStateDir returns the state directory as an absolute path: flag
// (the value of --state-dir) when set, else $OTPSV_STATE_DIR, else
// settings.state_dir (relative to the configuration file's directory),
// else the default: /var/lib/otpsv/<root name> for root,
// $XDG_STATE_HOME/otpsv/<root name> or ~/.local/state/otpsv/<root name>
// for anyone else. It does not create the directory.
func (c *Config) ResolveStateDir(flag string) (string, error) {
	return c.resolveStateDir(flag, os.Getenv, os.Geteuid(), os.UserHomeDir)
}

func (c *Config) resolveStateDir(flag string, getenv func(string) string, euid int, home func() (string, error)) (string, error) {
	abs := func(p string) (string, error) {
		a, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("state dir %q: %w", p, err)
		}
		return a, nil
	}
	if flag != "" {
		return abs(flag)
	}
	if p := getenv(EnvStateDir); p != "" {
		return abs(p)
	}
	if c.Settings.StateDir != "" {
		return absIn(filepath.Dir(c.File), c.Settings.StateDir), nil
	}
	if c.Tree == nil || c.Tree.Name == "" {
		return "", errors.New("state dir: the tree has no root name")
	}
	if euid == 0 {
		return filepath.Join("/var/lib/otpsv", c.Tree.Name), nil
	}
	// XDG says a relative $XDG_STATE_HOME is invalid and to be ignored.
	if x := getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "otpsv", c.Tree.Name), nil
	}
	h, err := home()
	if err != nil {
		return "", fmt.Errorf("state dir: %w", err)
	}
	return abs(filepath.Join(h, ".local", "state", "otpsv", c.Tree.Name))
}

// LogFile returns the default log file of the worker at path: one file
// for its stdout and stderr alike, stateDir/logs/<path with / as _>.log.
func LogFile(stateDir, path string) string {
	return filepath.Join(stateDir, "logs", strings.ReplaceAll(path, "/", "_")+".log")
}

// ResolveLogs fills in where the output of every process worker goes.
// Without a log (Node.Log nil), an OutputDefault stdout or stderr
// becomes its default file, LogFile(stateDir, node path): stdout and
// stderr go to the same file by default. With one, an OutputDefault
// stream becomes OutputLog, and a log to a file gets that same file as
// its Path. Other outputs are left alone.
func (c *Config) ResolveLogs(stateDir string) {
	_ = c.Tree.Walk(func(n *Node) error {
		if n.Type != Process {
			return nil
		}
		file := LogFile(stateDir, n.Path)
		def := Output{Kind: OutputFile, Path: file}
		if n.Log != nil {
			def = Output{Kind: OutputLog}
			if n.Log.To == LogToFile {
				n.Log.Path = file
			}
		}
		for _, o := range []*Output{&n.Stdout, &n.Stderr} {
			if o.Kind == OutputDefault {
				*o = def
			}
		}
		return nil
	})
}
