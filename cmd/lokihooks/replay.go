package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/projections"
)

// replayOpts are the flags of `lokihooks replay`.
type replayOpts struct {
	projection string // all, webhooks, integrations, breakers or deliveries
}

// replayProjections are the values of --projection.
var replayProjections = []string{"all", "webhooks", "integrations", "breakers", "deliveries"}

// replay rebuilds read models from the event log.
func replay(ctx context.Context, o replayOpts, getenv func(string) string, stdout, stderr io.Writer) error {
	if !slices.Contains(replayProjections, o.projection) {
		return fmt.Errorf("--projection must be all, webhooks, integrations, breakers or deliveries, got %q", o.projection)
	}
	cfg, pool, err := connect(ctx, getenv)
	if err != nil {
		return err
	}
	defer pool.Close()
	if o.projection == "all" || o.projection == "webhooks" {
		n, err := rebuildWebhooks(ctx, pool)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "webhooks: rebuilt from %d events\n", n)
	}
	if o.projection == "all" || o.projection == "integrations" {
		n, err := app.RebuildIntegrations(ctx, pool)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "integrations: rebuilt from %d events\n", n)
	}
	if o.projection == "all" || o.projection == "breakers" {
		n, err := app.RebuildBreakers(ctx, pool)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "breakers: rebuilt from %d events\n", n)
	}
	if o.projection == "all" || o.projection == "deliveries" {
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
