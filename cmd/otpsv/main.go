// Command otpsv supervises operating-system services as an OTP-style tree
// of supervisors and workers. See README.md and docs/.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit statuses shared by the verbs (SPEC §4).
const (
	exitOK      = 0
	exitFailed  = 1
	exitConfig  = 2
	exitTempErr = 75 // EX_TEMPFAIL: the state is held by another otpsv
)

// exitError carries a verb's exit status to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitWith(code int, err error) error { return &exitError{code: code, err: err} }

// signals are delivered to the daemon through the context: the first
// SIGINT/SIGTERM cancels it, the second closes hurry, SIGHUP is sent on
// reload.
type signals struct {
	hurry  chan struct{}
	reload chan struct{}
}

type signalsKey struct{}

func signalsFrom(ctx context.Context) *signals {
	if s, ok := ctx.Value(signalsKey{}).(*signals); ok {
		return s
	}
	return &signals{hurry: make(chan struct{}), reload: make(chan struct{})}
}

func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := &signals{hurry: make(chan struct{}), reload: make(chan struct{}, 1)}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		n := 0
		for s := range ch {
			if s == syscall.SIGHUP {
				select {
				case sigs.reload <- struct{}{}:
				default:
				}
				continue
			}
			n++
			switch n {
			case 1:
				cancel()
			case 2:
				close(sigs.hurry)
			}
		}
	}()
	ctx = context.WithValue(ctx, signalsKey{}, sigs)

	app := newApp()
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(os.Stderr, "otpsv:", msg)
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	// urfave/cli's own errors are usage errors (unknown flag, bad value).
	return exitConfig
}

func newApp() *cli.App {
	app := &cli.App{
		Name:    "otpsv",
		Usage:   "supervise services as an OTP-style tree of supervisors and workers",
		Version: version,
		// Flags go before positional arguments: urfave/cli v2 stops
		// parsing flags at the first positional argument.
		Commands: []*cli.Command{
			daemonCommand(),
			oneshotCommand(),
			treeCommand(),
			statusCommand(),
			checkCommand(),
			nodeCommand("start", "start a node (routed to the daemon); clears an operator's stop"),
			nodeCommand("stop", "stop a node (routed to the daemon); it stays stopped until started"),
			nodeCommand("restart", "restart a node (routed to the daemon; a service's own restart command when it has one)"),
			reloadCommand(),
			planCommand(),
			whyCommand(),
			validateCommand(),
			versionCommand(),
			importCommand(),
			schemaCommand(),
			completionCommand(),
			manCommand(),
			logWriterCommand(),
		},
		// The completion scripts ask otpsv what comes next with
		// --generate-bash-completion (completion.go).
		EnableBashCompletion: true,
		// cli's default handler calls os.Exit itself, which would skip
		// deferred cleanup; main maps errors to exit statuses instead.
		ExitErrHandler:         func(*cli.Context, error) {},
		HideVersion:            true,
		UseShortOptionHandling: true,
	}
	completeNodePaths(app)
	return app
}
