// Command httpstate runs the httpstate demo shop and inspects and revokes
// sessions in any store.
//
//	httpstate serve                       the demo shop on http://localhost:8080
//	httpstate sessions list --user U      a user's live sessions
//	httpstate sessions revoke --user U    end all of them (or --handle H for one)
//	httpstate gc                          delete expired sessions
//	httpstate stats                       is the store reachable, and how fast
//
// Every command takes --store URL (default $HTTPSTATE_STORE, else
// sqlite:httpstate.db). Run "httpstate help" for the details and the exit
// codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/storeurl"
)

// Exit codes, documented in "httpstate help".
const (
	exitOK      = 0
	exitFailure = 1 // the command could not do its job: store unreachable, port taken...
	exitUsage   = 2 // the command line is wrong: unknown command or flag, bad store URL
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit code. SIGINT and
// SIGTERM cancel the command: serve shuts down gracefully, gc stops
// between batches.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdout, stderr)
}

func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	usage, isUsage := errors.AsType[usageError](err)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case isUsage, errors.Is(err, storeurl.ErrInvalid):
		// One line for the mistake and one for the right form: the full
		// help is one command away and would bury the error.
		fmt.Fprintf(stderr, "httpstate: %v\n", err)
		if isUsage {
			fmt.Fprintln(stderr, usageLine(usage.cmd))
		}
		return exitUsage
	default:
		fmt.Fprintf(stderr, "httpstate: %v\n", err)
		return exitFailure
	}
}

// usageError is a mistake in the command line.
type usageError struct {
	cmd string // the command (such as "sessions revoke") whose usage to show, or "" for the main one
	msg string
}

func (e usageError) Error() string { return e.msg }

func usagef(cmd, format string, args ...any) error {
	return usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainHelp)
		return usageError{msg: "no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, stdout, stderr)
	case "sessions":
		if len(rest) == 0 {
			return usagef("sessions", "sessions needs a subcommand: list or revoke")
		}
		switch rest[0] {
		case "list":
			return sessionsList(ctx, rest[1:], stdout)
		case "revoke":
			return sessionsRevoke(ctx, rest[1:], stdout)
		}
		return usagef("sessions", "unknown subcommand %q of sessions: want list or revoke", rest[0])
	case "gc":
		return gc(ctx, rest, stdout, stderr)
	case "stats":
		return stats(ctx, rest, stdout)
	case "version":
		return version(stdout)
	case "help", "-h", "-help", "--help":
		return help(rest, stdout)
	}
	return usagef("", "unknown command %q; run 'httpstate help'", cmd)
}

// newFlags returns a FlagSet for cmd ("serve", "sessions list"...) that
// prints nothing and reports errors instead of exiting, so that parse and
// run decide what is printed and the exit code.
func newFlags(cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args. -h and --help print the command's help on stdout.
// It refuses positional arguments, which no command takes, and flags given
// an empty value (--handle ""): a stray word or an empty variable in a
// script is a mistake better reported than read as "everything".
func parse(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, helpFor(topicOf(fs.Name())))
			return err
		}
		return usageError{cmd: fs.Name(), msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef(fs.Name(), "unexpected argument %q", fs.Arg(0))
	}
	var empty string
	fs.Visit(func(f *flag.Flag) {
		if v, ok := f.Value.(flag.Getter).Get().(string); ok && strings.TrimSpace(v) == "" && empty == "" {
			empty = f.Name
		}
	})
	if empty != "" {
		return usagef(fs.Name(), "--%s is empty", empty)
	}
	return nil
}

// topicOf returns the help topic of a command: its first word.
func topicOf(cmd string) string {
	topic, _, _ := strings.Cut(cmd, " ")
	return topic
}

// storeFlag adds --store, defaulting to $HTTPSTATE_STORE or the local
// SQLite file.
func storeFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("HTTPSTATE_STORE")
	if def == "" {
		def = storeurl.DefaultURL
	}
	return fs.String("store", def, "where sessions are kept: a store URL (see 'httpstate help stores')")
}

func version(stdout io.Writer) error {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	fmt.Fprintf(stdout, "httpstate %s\n", v)
	return nil
}
