// Command lokihooks is the one lokihooks binary: the server (serve, migrate,
// replay, openapi, bench) and the developer tools (receive, verify, events,
// retries, loadtest). `lokihooks --help` lists the commands and `lokihooks
// help environment` the configuration, which comes from environment
// variables only.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "lokihooks:", err)
		}
		os.Exit(1)
	}
}

// run executes one command line. It is main without the process globals:
// the environment comes through getenv and output goes to stdout and stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	root := newRootCmd(cli{getenv: getenv, stdout: stdout, stderr: stderr})
	root.SetArgs(longFlagsCompat(args))
	return root.ExecuteContext(ctx)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by loadConfig; "" is info
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
