package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/config"
)

// commonFlags are accepted by every verb (SPEC §4).
func commonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, TakesFile: true, Usage: "config file (default $OTPSV_CONFIG, else ./otpsv.yaml)"},
		&cli.StringFlag{Name: "state-dir", TakesFile: true, Usage: "state directory (default $OTPSV_STATE_DIR, else settings.state_dir, else per-user default)"},
	}
}

func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", Usage: "debug|info|warn|error (default: settings.log_level)"},
		&cli.StringFlag{Name: "log-format", Usage: "text|json (default: settings.log_format)"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log at debug level"},
	}
}

// loadConfig loads and validates the config named by the flags. Errors
// are config errors (exit status 2) and name file and line.
func loadConfig(c *cli.Context) (*config.Config, error) {
	path := config.DefaultConfigPath(c.String("config"))
	cfg, err := config.LoadFile(path)
	if err != nil {
		return nil, exitWith(exitConfig, fmt.Errorf("invalid config:\n%w", err))
	}
	return cfg, nil
}

// stateDir resolves and creates the state directory (mode 0700).
func stateDir(c *cli.Context, cfg *config.Config) (string, error) {
	dir, err := cfg.ResolveStateDir(c.String("state-dir"))
	if err != nil {
		return "", exitWith(exitConfig, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", exitWith(exitFailed, fmt.Errorf("state dir: %w", err))
	}
	return dir, nil
}

func newLogger(c *cli.Context, s config.Settings, w io.Writer) (*slog.Logger, error) {
	level := s.LogLevel
	if v := c.String("log-level"); v != "" {
		level = v
	}
	if c.Bool("verbose") {
		level = "debug"
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil && level != "" {
		return nil, exitWith(exitConfig, fmt.Errorf("log level %q: want debug, info, warn or error", level))
	}
	format := s.LogFormat
	if v := c.String("log-format"); v != "" {
		format = v
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, exitWith(exitConfig, fmt.Errorf("log format %q: want text or json", format))
}
