package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/config/simplevisor"
)

// importCommand converts other supervisors' configurations to otpsv.yaml
// (SPEC §10). It reads no otpsv configuration and touches no state.
func importCommand() *cli.Command {
	return &cli.Command{
		Name:  "import",
		Usage: "print an otpsv.yaml equivalent to another supervisor's configuration",
		Subcommands: []*cli.Command{{
			Name:      "simplevisor",
			Usage:     "convert a CERN simplevisor configuration (includes followed, variables resolved)",
			ArgsUsage: "FILE",
			Description: "Prints, on standard output, an otpsv.yaml equivalent to the simplevisor\n" +
				"configuration FILE, with comments where otpsv behaves differently\n" +
				"(docs/simplevisor.md). Anything without an otpsv equivalent is an error\n" +
				"naming the file and line; every such error is reported, and the exit\n" +
				"status is then 2, as for `otpsv validate`.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "conftype", Value: "apache", Usage: "format of FILE: apache (Config::General) or json, as simplevisor's --conftype"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return exitWith(exitConfig, errors.New("import simplevisor: want one FILE (flags go before it)"))
				}
				format, err := simplevisor.ParseFormat(c.String("conftype"))
				if err != nil {
					return exitWith(exitConfig, fmt.Errorf("import simplevisor: --conftype: %w", err))
				}
				out, err := simplevisor.Import(c.Args().First(), format)
				if errors.Is(err, simplevisor.ErrOutput) {
					return exitWith(exitFailed, err)
				}
				if err != nil {
					return exitWith(exitConfig, fmt.Errorf("invalid simplevisor config:\n%w", err))
				}
				_, err = c.App.Writer.Write(out)
				return err
			},
		}},
	}
}
