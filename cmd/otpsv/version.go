package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Flags: commonFlags(),
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintf(c.App.Writer, "otpsv %s\n", version)
			return err
		},
	}
}
