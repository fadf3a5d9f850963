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

	"github.com/loki-interceptor/lokihooks/internal/telemetry"
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

// newLogger is the logger of serve and replay: JSON lines on w, or text
// when w is a terminal (LOKIHOOKS_LOG_FORMAT overrides), with trace_id and
// span_id on every line written inside a span.
func newLogger(w io.Writer, cfg config) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(cfg.LogLevel)) // validated by loadConfig; "" is info
	return slog.New(telemetry.NewLogHandler(w, telemetry.LogConfig{Format: cfg.LogFormat, Level: l, Terminal: isTerminal(w)}))
}
