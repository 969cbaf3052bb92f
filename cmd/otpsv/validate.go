package main

import (
	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/config"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:  "validate",
		Usage: "check the config and print the resolved tree",
		Flags: commonFlags(),
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			return config.Print(c.App.Writer, cfg)
		},
	}
}
