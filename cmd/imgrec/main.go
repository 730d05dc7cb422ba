// Command imgrec is the elastic image-recognition service: every tier, the
// tools to run and measure it, in one binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"syscall"

	"github.com/imgrec/imgrec"
)

// command is one subcommand; run returns a usage error (flag.ErrHelp or a
// *usageError) for bad invocations and any other error for failures.
type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env carries the process's streams so commands run the same in tests.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

var commands = map[string]command{}

func register(name, summary string, run func(context.Context, *env, []string) error) {
	commands[name] = command{summary, run}
}

type usageError struct {
	msg     string
	command string // the subcommand whose -h to point at ("infra down"); "" for the command itself
}

func (e *usageError) Error() string { return e.msg }

// inCommand names, on a usage error of a nested command, the command whose
// help explains it.
func inCommand(command string, err error) error {
	var ue *usageError
	if errors.As(err, &ue) && ue.command == "" {
		ue.command = command
	}
	return err
}

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile()
	code := run(ctx, &env{os.Stdin, os.Stdout, os.Stderr}, os.Args[1:])
	stopProfile()
	stop()
	os.Exit(code)
}

// startProfile writes a CPU profile to $IMGREC_CPUPROFILE (suffixed with the
// pid, so serve's workers each write their own) for `go tool pprof`.
func startProfile() (stop func()) {
	path := os.Getenv("IMGREC_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "imgrec: IMGREC_CPUPROFILE:", err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// run dispatches to a subcommand and turns its result into an exit code:
// 0 success, 1 failure, 2 bad usage.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		fmt.Fprintln(e.stdout, versionLine())
		return 0
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(e.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	name := args[0]
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(e.stderr, "imgrec: unknown command %q\n\n", name)
		printUsage(e.stderr)
		return 2
	}
	err := cmd.run(ctx, e, args[1:])
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if ue.command != "" {
			name = ue.command
		}
		fmt.Fprintf(e.stderr, "imgrec %s: %v\nRun 'imgrec %s -h' for usage.\n", name, err, name)
		return 2
	default:
		fmt.Fprintf(e.stderr, "imgrec %s: %v\n", name, err)
		if imgrec.ErrorCode(err) == imgrec.EINVALID {
			return 2
		}
		return 1
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "imgrec — elastic image recognition (ResNet-18)\n\nUsage: imgrec COMMAND [flags] [args]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'imgrec COMMAND -h' for a command's flags. Every flag can also be set\nas an environment variable IMGREC_<FLAG> (e.g. IMGREC_MODEL, IMGREC_MAX_INSTANCES).")
}
