package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/projections"
)

// replay rebuilds read models from the event log.
func replay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	which := fs.String("projection", "all", "all, webhooks or deliveries")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *which != "all" && *which != "webhooks" && *which != "deliveries" {
		return fmt.Errorf("-projection must be all, webhooks or deliveries, got %q", *which)
	}
	cfg, pool, err := connect(ctx, getenv)
	if err != nil {
		return err
	}
	defer pool.Close()
	if *which != "deliveries" {
		n, err := rebuildWebhooks(ctx, pool)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "webhooks: rebuilt from %d events\n", n)
	}
	if *which != "webhooks" {
		n, err := rebuildDeliveries(ctx, pool, newLogger(stderr, cfg.LogLevel))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deliveries: rebuilt from %d events\n", n)
	}
	return nil
}

// rebuildWebhooks rebuilds the webhooks read model from the webhook
// streams; see projections.RebuildWebhooks.
func rebuildWebhooks(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	return app.RebuildWebhooks(ctx, pool)
}

// rebuildDeliveries resets the deliveries read model and its checkpoint,
// then catches up with the log.
func rebuildDeliveries(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (int, error) {
	r, err := projections.NewRunner(pool, projections.RunnerConfig{
		Name: "deliveries", Projector: projections.Deliveries{}, Read: readLog,
		Reset: projections.Deliveries{}.Reset, Logger: logger,
	})
	if err != nil {
		return 0, err
	}
	return r.Rebuild(ctx)
}
