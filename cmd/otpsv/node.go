package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/actors/control"
)

// nodeCommand is `otpsv start|stop|restart PATH`.
func nodeCommand(verb, usage string) *cli.Command {
	return &cli.Command{
		Name:      verb,
		Usage:     usage,
		ArgsUsage: "PATH",
		Flags:     commonFlags(),
		Action: func(c *cli.Context) error {
			path := strings.Trim(c.Args().First(), "/")
			if path == "" || c.NArg() > 1 {
				return exitWith(exitConfig, fmt.Errorf("usage: otpsv %s [flags] PATH", verb))
			}
			dir, err := queryStateDir(c)
			if err != nil {
				return err
			}
			err = control.NewClient(filepath.Join(dir, control.SocketName)).Command(c.Context, verb, path)
			if errors.Is(err, control.ErrNoDaemon) {
				return exitWith(exitFailed, fmt.Errorf("%w on %s (acting without a daemon comes with oneshot mode)", err, dir))
			}
			if err != nil {
				return exitWith(exitFailed, fmt.Errorf("%s %s: %w", verb, path, err))
			}
			return nil
		},
	}
}
