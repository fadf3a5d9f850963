package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/loki-interceptor/lokihooks/projections"
)

// cli is what every command gets from run: the process's environment and
// output streams. Commands take their context from cobra (run's ctx).
type cli struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// errReported marks a failure the command has already explained on its
// output (a signature that does not verify, an invalid payload): main exits
// 1 without printing it again.
var errReported = errors.New("reported")

// usageError is a command line that cannot run: an unknown command or flag,
// a bad flag value, missing arguments. Its text ends by pointing at the
// command's help.
type usageError struct {
	cmd string // command path, such as "lokihooks events validate"
	err error
}

func (e *usageError) Error() string {
	return fmt.Sprintf("%v\nrun '%s --help' for usage", e.err, e.cmd)
}

func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf(format, args...)}
}

// Command groups of the root help.
const (
	groupServer = "server"
	groupTools  = "tools"
)

const rootLong = `lokihooks delivers events that LOKI services publish into a PostgreSQL outbox
to every subscribed webhook, signed (Standard Webhooks), with retries, rate
limits and dead letters, and serves the REST API that manages it all. Every
process, server or tool, is this one binary.

Configuration comes from environment variables only: DATABASE_URL and
LOKIHOOKS_* (LOKIHOOKS_ADDR, LOKIHOOKS_API_KEYS, LOKIHOOKS_SECRETS_KEY, ...).
Run 'lokihooks help environment' for the full list.`

const rootExample = `  # Development: PostgreSQL up, then serve with development settings
  make run

  # In another terminal, a receiver that verifies signatures
  lokihooks receive --secret whsec_...

  # Print a valid payload, preview a retry schedule
  lokihooks events example validation.completed
  lokihooks retries --strategy exponential_backoff --max-retries 5`

func newRootCmd(c cli) *cobra.Command {
	root := &cobra.Command{
		Use:           "lokihooks",
		Short:         "Webhook and integration delivery for LOKI services",
		Long:          rootLong,
		Example:       rootExample,
		Version:       version,
		SilenceErrors: true, // main prints the error once
		SilenceUsage:  true, // a failing command is not a usage mistake
		// SuggestionsFor reads it; cobra sets its default only when it
		// prints suggestions itself.
		SuggestionsMinimumDistance: 2,
		Args:                       subcommandArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(c.stderr, "%s\n\n%s", cmd.Long, cmd.UsageString())
			return usageErrorf(cmd, "no command given")
		},
	}
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{cmd: cmd.CommandPath(), err: err}
	})
	root.AddGroup(
		&cobra.Group{ID: groupServer, Title: "Server commands:"},
		&cobra.Group{ID: groupTools, Title: "Developer tools:"},
	)
	root.AddCommand(
		c.serveCmd(), c.migrateCmd(), c.replayCmd(), c.openapiCmd(), c.benchCmd(),
		c.receiveCmd(), c.verifyCmd(), c.eventsCmd(), c.retriesCmd(), c.loadtestCmd(),
		c.outboxCmd(), c.statusCmd(), c.rotateSecretsKeyCmd(), environmentTopic(),
	)
	return root
}

// longFlagsCompat rewrites single-dash long flags (-roles, -format=json) to
// their double-dash form, so command lines written for the flag package
// that lokihooks used before keep working. Single letters (-h) and anything
// after "--" are left alone.
func longFlagsCompat(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
		if singleDashLong.MatchString(a) {
			a = "-" + a
		}
		out[i] = a
	}
	return out
}

var singleDashLong = regexp.MustCompile(`^-[A-Za-z][A-Za-z0-9-]+(=.*)?$`)

// subcommandArgs is the Args of a command that only groups subcommands:
// an argument is a mistyped subcommand.
func subcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if cmd.HasParent() {
		msg += " for " + cmd.CommandPath()
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
	}
	return usageErrorf(cmd, "%s", msg)
}

// noArgs rejects positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf(cmd, "%s takes no arguments, got %q", cmd.Name(), args)
	}
	return nil
}

func (c cli) serveCmd() *cobra.Command {
	var o serveOpts
	cmd := &cobra.Command{
		Use:     "serve",
		GroupID: groupServer,
		Short:   "Run the API and the delivery pipeline",
		Long: `Applies pending migrations, then runs the given roles until SIGINT or SIGTERM:

  api        the HTTP API on LOKIHOOKS_ADDR (needs LOKIHOOKS_API_KEYS, LOKIHOOKS_SECRETS_KEY)
  relay      the outbox fan-out; one process is active, others wait as hot standbys
  worker     delivery workers: rate limit, sign, send, record, retry (needs LOKIHOOKS_SECRETS_KEY)
  projector  keeps the deliveries and analytics read models up to date; one process is active

On shutdown the API drains and in-flight deliveries finish for up to
LOKIHOOKS_SHUTDOWN_TIMEOUT. Configuration: 'lokihooks help environment'.`,
		Example: `  # Everything in one process
  lokihooks serve

  # Split the roles across processes
  lokihooks serve --roles api
  lokihooks serve --roles relay,worker,projector`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), o, c.getenv, c.stdout, c.stderr)
		},
	}
	cmd.Flags().StringVar(&o.roles, "roles", strings.Join(allRoles, ","),
		"comma-separated roles to run: api, relay (outbox fan-out), worker (deliveries), projector (read models)")
	return cmd
}

// listenError explains a listen failure of the API; a busy port names the
// setting that moves it.
func listenError(addr string, err error) error {
	return listenErrorFor(envAddr, addr, err)
}

// listenErrorFor is listenError for the address set by env.
func listenErrorFor(env, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on %s: the address is already in use (another lokihooks?); "+
			"stop that process or set %s to another address, e.g. %s=127.0.0.1:8081", addr, env, env)
	}
	var addrErr *net.AddrError
	if errors.As(err, &addrErr) {
		return fmt.Errorf("listen on %s: %w (%s must be host:port, e.g. 127.0.0.1:8080)", addr, err, env)
	}
	return fmt.Errorf("listen on %s (%s): %w", addr, env, err)
}

func (c cli) migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "migrate",
		GroupID: groupServer,
		Short:   "Apply pending database migrations and exit",
		Long: `Applies the embedded, forward-only migrations that DATABASE_URL's database has
not seen yet, under an advisory lock (concurrent runs wait for each other).
serve does the same at start-up.`,
		Example: `  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable lokihooks migrate`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return migrate(cmd.Context(), c.getenv, c.stdout)
		},
	}
}

func (c cli) replayCmd() *cobra.Command {
	var o replayOpts
	cmd := &cobra.Command{
		Use:     "replay",
		GroupID: groupServer,
		Short:   "Rebuild read models from the event log",
		Long: `Rebuilds read models from the append-only event log; the result is identical to
the live read models. The deliveries and analytics projections are rebuilt into
shadow tables while the API keeps answering from the live ones and the live
projector keeps going; then one short transaction swaps the shadow tables in and
the live projector continues from the rebuild's checkpoint. The webhooks read
model is rebuilt from the webhook streams in one short transaction. Progress goes
to stderr: a bar on a terminal, a line every 2 s otherwise.

serve runs the same rebuild at start-up for a projection whose definition
version (stored with its checkpoint) differs from the binary's.`,
		Example: `  lokihooks replay
  lokihooks replay --projection analytics`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return replay(cmd.Context(), o, c.getenv, c.stdout, c.stderr)
		},
	}
	cmd.Flags().StringVar(&o.projection, "projection", "all", "read model to rebuild: all, webhooks, integrations, breakers, deliveries or analytics")
	cmd.Flags().IntVar(&o.batch, "batch", projections.DefaultRebuildBatchSize, "events per rebuild transaction")
	_ = cmd.RegisterFlagCompletionFunc("projection", fixedCompletions(append([]string{"all"}, replayable...)...))
	return cmd
}

func (c cli) openapiCmd() *cobra.Command {
	var o openapiOpts
	cmd := &cobra.Command{
		Use:     "openapi",
		GroupID: groupServer,
		Short:   "Print the OpenAPI document without a server",
		Long: `Prints the OpenAPI document of the REST API, as served at /openapi.json and
/openapi.yaml. Needs no database and no configuration.`,
		Example: `  lokihooks openapi > openapi.yaml
  lokihooks openapi --format json | jq '.paths | keys'
  lokihooks openapi --format json-3.0   # for generators that need OpenAPI 3.0`,
		Args: noArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return printOpenAPI(o, c.stdout)
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "yaml", "yaml, json (OpenAPI 3.1) or json-3.0")
	_ = cmd.RegisterFlagCompletionFunc("format", fixedCompletions("yaml", "json", "json-3.0"))
	return cmd
}

func (c cli) benchCmd() *cobra.Command {
	var o benchOpts
	cmd := &cobra.Command{
		Use:     "bench",
		GroupID: groupServer,
		Short:   "Measure deliveries/s, latency, CPU, row writes and WAL on this machine",
		Long: `Creates a throwaway schema in DATABASE_URL's database, registers K webhooks
pointing at a receiver in this process, publishes N events (through
lokihooks_publish in the producers' transactions, or through the API), runs the
API, relay, workers and projections in this process, and reports throughput
(steady and over the whole span), delivered vs ingested per second,
publish→receipt latency, CPU per event (this process and its database
backends, from /proc), row writes and WAL per event. --idle measures what the
running roles cost with nothing to do. docs/benchmarks.md has results.`,
		Example: `  lokihooks bench --events 50000 --tx-size 100                 # batched SQL transactions
  lokihooks bench --events 20000 --ingest sql --tx-size 1 --clients 8  # one event per transaction
  lokihooks bench --events 5000 --ingest http --clients 16     # HTTP burst, one event per request
  lokihooks bench --events 2000 --rate 100                     # latency at a steady rate
  lokihooks bench --idle 30s                                   # cost when idle
  lokihooks bench --events 200000 --backlog --tx-size 1000     # backlog drain`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench(cmd.Context(), o, c.getenv, c.stdout, c.stderr)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.events, "events", 50000, "events to publish (N)")
	f.IntVar(&o.webhooks, "webhooks", 1, "webhooks subscribed to every event (K)")
	f.IntVar(&o.batch, "tx-size", 100, "events per publishing transaction (--ingest sql)")
	f.IntVar(&o.batch, "batch", 100, "same as --tx-size")
	f.IntVar(&o.rate, "rate", 0, "publish at this many events/s, one event per transaction or request (0: as fast as possible)")
	f.IntVar(&o.clients, "clients", 1, "concurrent publishers")
	f.StringVar(&o.ingest, "ingest", ingestSQL, "how events come in: sql (lokihooks_publish) or http (POST /api/v1/events)")
	f.DurationVar(&o.idle, "idle", 0, "measure the cost of every role running with nothing to do, for this long")
	f.IntVar(&o.workers, "workers", defaultWorkers, "delivery workers")
	f.BoolVar(&o.backlog, "backlog", false, "publish everything before starting the relay, then measure the drain")
	f.BoolVar(&o.keep, "keep", false, "keep the bench schema afterwards")
	f.BoolVar(&o.noProjector, "no-projector", false, "do not run the deliveries projection (to measure its share)")
	f.BoolVar(&o.noAnalytics, "no-analytics", false, "do not run the analytics projection (to measure its share)")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	f.DurationVar(&o.poll, "poll", defaultPollInterval, "outbox poll interval")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	f.BoolVar(&o.telemetry, "telemetry", false, "trace every delivery (100% sampling, spans exported to a counting no-op exporter) and keep metrics, scraped every --scrape-interval")
	f.DurationVar(&o.scrapeInterval, "scrape-interval", defaultBenchScrapeInterval, "with --telemetry: how often /metrics is scraped (a Prometheus server: 15s or more)")
	return cmd
}

// fixedCompletions completes a flag or argument from a fixed list.
func fixedCompletions(values ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}
