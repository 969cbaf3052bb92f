package main

import (
	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/config"
)

// schemaCommand prints the JSON Schema of otpsv.yaml. It reads no config
// file, so that it works before there is one.
func schemaCommand() *cli.Command {
	return &cli.Command{
		Name:  "schema",
		Usage: "print a JSON Schema (draft 2020-12) of otpsv.yaml, for editors",
		Description: "Editors that use yaml-language-server check and complete otpsv.yaml with it:\n" +
			"  otpsv schema > otpsv.schema.json\n" +
			"and, as the first line of otpsv.yaml:\n" +
			"  # yaml-language-server: $schema=./otpsv.schema.json",
		Action: func(c *cli.Context) error {
			_, err := c.App.Writer.Write(config.Schema())
			return err
		},
	}
}
