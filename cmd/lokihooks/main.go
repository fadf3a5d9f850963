// Command lokihooks is the one lokihooks binary.
//
//	lokihooks serve     run the API (and the delivery pipeline)
//	lokihooks migrate   apply database migrations and exit
//	lokihooks openapi   print the OpenAPI document (YAML) without a server
//	lokihooks replay    rebuild read models from the event log
//	lokihooks bench     measure the pipeline against a local receiver
//
// Configuration comes from environment variables; see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: lokihooks <command> [flags]

commands:
  serve     run the API and the delivery pipeline
  migrate   apply database migrations and exit
  openapi   print the OpenAPI document without a server (-format yaml|json|json-3.0)
  replay    rebuild read models from the event log (-projection all|webhooks|deliveries)
  bench     measure deliveries/s and commit→receipt latency against a local receiver
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "lokihooks:", err)
		}
		os.Exit(1)
	}
}

// run dispatches a subcommand. It is main without the process globals.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stdout, stderr)
	case "openapi":
		return printOpenAPI(args[1:], stdout, stderr)
	case "replay":
		return replay(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		return bench(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by loadConfig; "" is info
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
