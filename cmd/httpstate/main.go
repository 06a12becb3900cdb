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
		fmt.Fprintf(stderr, "httpstate: %v\n", err)
		if usage.cmd != "" {
			fmt.Fprintf(stderr, "Run 'httpstate help %s' for usage.\n", usage.cmd)
		}
		return exitUsage
	default:
		fmt.Fprintf(stderr, "httpstate: %v\n", err)
		return exitFailure
	}
}

// usageError is a mistake in the command line.
type usageError struct {
	cmd string // the command whose help to point to, if any
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
			return sessionsList(ctx, rest[1:], stdout, stderr)
		case "revoke":
			return sessionsRevoke(ctx, rest[1:], stdout, stderr)
		}
		return usagef("sessions", "unknown subcommand %q of sessions: want list or revoke", rest[0])
	case "gc":
		return gc(ctx, rest, stdout, stderr)
	case "stats":
		return stats(ctx, rest, stdout, stderr)
	case "version":
		return version(stdout)
	case "help", "-h", "-help", "--help":
		return help(rest, stdout)
	}
	return usagef("", "unknown command %q; run 'httpstate help'", cmd)
}

// newFlags returns a FlagSet for cmd that reports errors instead of
// exiting, so run decides the exit code.
func newFlags(cmd string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, helpFor(cmd)) }
	return fs
}

// parse parses args and refuses positional arguments, which no command
// takes: a stray word is a mistake better reported than ignored.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{cmd: fs.Name(), msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef(fs.Name(), "unexpected argument %q", fs.Arg(0))
	}
	return nil
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
