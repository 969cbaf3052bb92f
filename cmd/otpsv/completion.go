package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otpsv/otpsv/config"
)

// completionCommand prints a shell completion script (SPEC §10). The bash
// and zsh scripts ask otpsv itself what comes next, through urfave/cli's
// --generate-bash-completion, so they follow the CLI definition (and the
// node paths of the config) without being regenerated; fish gets
// urfave/cli's static script of verbs and flags.
func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: "Load it for the current shell:\n" +
			"  bash: source <(otpsv completion bash)\n" +
			"  zsh:  source <(otpsv completion zsh)   (after compinit)\n" +
			"  fish: otpsv completion fish | source\n" +
			"`make install` and the Debian package install it where each shell finds it.",
		Flags: commonFlags(),
		BashComplete: func(c *cli.Context) {
			fmt.Fprintln(c.App.Writer, "bash\nzsh\nfish")
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return exitWith(exitConfig, errors.New("completion: want one of bash, zsh, fish"))
			}
			var script string
			switch sh := c.Args().First(); sh {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return exitWith(exitFailed, fmt.Errorf("completion: %w", err))
				}
				script = s
			default:
				return exitWith(exitConfig, fmt.Errorf("completion: unknown shell %q: want bash, zsh or fish", sh))
			}
			_, err := io.WriteString(c.App.Writer, script)
			return err
		},
	}
}

// manCommand prints the man page otpsv(1) for `make man`. It is a hidden
// verb rather than a program of its own because the CLI definition lives
// in package main: only this binary can render it, so the page always
// describes the verbs and flags of the binary it ships with.
func manCommand() *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print the man page otpsv(1) in roff",
		Hidden: true,
		Action: func(c *cli.Context) error {
			page, err := c.App.ToManWithSection(1)
			if err != nil {
				return exitWith(exitFailed, fmt.Errorf("man: %w", err))
			}
			// urfave/cli's page has no version in its title line and no
			// sections beyond the verbs and flags.
			page = strings.Replace(page, ".TH otpsv 1\n", fmt.Sprintf(".TH otpsv 1 \"\" \"otpsv %s\"\n", version), 1)
			_, err = io.WriteString(c.App.Writer, page+manTail)
			return err
		},
	}
}

// manTail ends the man page with what the verbs' usage lines leave out.
const manTail = `
.SH NOTES
Flags go before positional arguments
(\fBotpsv status \-c FILE site/db\fP): urfave/cli stops parsing flags at
the first argument. A PATH names a node by the names from the root down,
joined by \fB/\fP, such as \fBsite/backend/db\fP.
.SH ENVIRONMENT
.TP
\fBOTPSV_CONFIG\fP
the config file when \fB\-c\fP is not given (else \fI./otpsv.yaml\fP)
.TP
\fBOTPSV_STATE_DIR\fP
the state directory when \fB\-\-state\-dir\fP is not given (else
\fBsettings.state_dir\fP, else \fI/var/lib/otpsv/ROOT\fP for root and
\fI~/.local/state/otpsv/ROOT\fP for other users)
.SH EXIT STATUS
0 success; 1 failure (\fBdaemon\fP: the root gave up; \fBstatus\fP: a
node is not as expected); 2 bad config or usage (\fBcheck\fP: CRITICAL);
3 \fBcheck\fP: UNKNOWN; 75 the state is held by another otpsv.
The table per verb is in docs/cli.md.
.SH SEE ALSO
\fBsystemd.service\fP(5), https://github.com/otpsv/otpsv/tree/main/docs
`

// completeNodePaths makes every verb whose argument is a node PATH
// complete the paths of the config named by -c (or the default), and its
// flags after a "-". A config that does not load completes nothing.
func completeNodePaths(app *cli.App) {
	for _, cmd := range app.Commands {
		if cmd.BashComplete != nil || !strings.Contains(cmd.ArgsUsage, "PATH") {
			continue
		}
		flags := cli.DefaultCompleteWithFlags(cmd)
		cmd.BashComplete = func(c *cli.Context) {
			// urfave/cli gives completers the word being completed only
			// through os.Args, just before --generate-bash-completion.
			if n := len(os.Args); n > 2 && strings.HasPrefix(os.Args[n-2], "-") {
				flags(c)
				return
			}
			if c.NArg() > 0 { // PATH already given: every verb takes one
				return
			}
			cfg, err := config.LoadFile(config.DefaultConfigPath(c.String("config")))
			if err != nil || cfg.Tree == nil {
				return
			}
			var walk func(n *config.Node)
			walk = func(n *config.Node) {
				fmt.Fprintln(c.App.Writer, n.Path)
				for _, ch := range n.Children {
					walk(ch)
				}
			}
			walk(cfg.Tree)
		}
	}
}

// bashCompletion is modeled on urfave/cli's autocomplete/bash_autocomplete,
// with four changes: it needs nothing from the bash-completion package;
// it runs the command line as words instead of through eval (completing
// must never run what the user typed, such as a $(...)); it never asks
// otpsv after a "--", where urfave/cli would run the verb itself; and it
// passes a lone "-" for a flag being typed and filters the answer itself,
// because urfave/cli with short option handling panics on the unknown
// flag that a partial one such as --con is.
const bashCompletion = `# bash completion for otpsv: source <(otpsv completion bash), or install
# as /usr/share/bash-completion/completions/otpsv. Generated by otpsv.
_otpsv() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} w
	COMPREPLY=()
	case $prev in
	-c | --config | --state-dir | --file) return 0 ;; # -o default: file names
	esac
	local -a args=("${COMP_WORDS[@]:1:COMP_CWORD-1}")
	for w in "${args[@]}"; do
		[[ $w == -- ]] && return 0
	done
	[[ $cur == -* ]] && args+=(-)
	while IFS= read -r w; do
		[[ -n $w && $w == "$cur"* ]] && COMPREPLY+=("$w")
	done < <("${COMP_WORDS[0]}" "${args[@]}" --generate-bash-completion 2>/dev/null)
	return 0
}
complete -o bashdefault -o default -F _otpsv otpsv
`

// zshCompletion is modeled on urfave/cli's autocomplete/zsh_autocomplete,
// with the same changes as bashCompletion; it also works when autoloaded
// from $fpath as _otpsv, not only when sourced.
const zshCompletion = `#compdef otpsv
# zsh completion for otpsv: source <(otpsv completion zsh) after compinit,
# or install as _otpsv in a directory of $fpath. Generated by otpsv.
_otpsv() {
	local cur=${words[CURRENT]} w
	local -a opts args
	args=("${(@Q)words[2,CURRENT-1]}")
	case ${words[CURRENT-1]} in
	-c | --config | --state-dir | --file) _files; return ;;
	esac
	for w in "${args[@]}"; do
		[[ $w == -- ]] && { _files; return; }
	done
	[[ $cur == -* ]] && args+=(-)
	opts=("${(@f)$(${words[1]} "${args[@]}" --generate-bash-completion 2>/dev/null)}")
	if [[ -n ${opts[1]} ]]; then
		_describe 'values' opts
	else
		_files
	fi
}
if [[ $funcstack[1] == _otpsv ]]; then
	_otpsv "$@"
else
	compdef _otpsv otpsv
fi
`
