package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/projections"
)

// replayOpts are the flags of `lokihooks replay`.
type replayOpts struct {
	projection string // all, webhooks, integrations, breakers, deliveries or analytics
	batch      int    // events per rebuild transaction
}

// replayable are the projections replay rebuilds, in the order of "all".
var replayable = []string{"webhooks", "integrations", "breakers", "deliveries", "analytics"}

// replay rebuilds read models from the event log: the webhooks and
// integrations read models from their own streams in one short transaction
// each, the log projections into shadow tables that are swapped in at the
// end.
func replay(ctx context.Context, o replayOpts, getenv func(string) string, stdout, stderr io.Writer) error {
	if o.projection != "all" && !slices.Contains(replayable, o.projection) {
		return fmt.Errorf("--projection must be all, webhooks, integrations, breakers, deliveries or analytics, got %q", o.projection)
	}
	cfg, pool, err := connect(ctx, getenv)
	if err != nil {
		return err
	}
	defer pool.Close()
	logger := newLogger(stderr, cfg)
	for _, name := range replayable {
		if o.projection != "all" && o.projection != name {
			continue
		}
		start := time.Now()
		var n int64
		switch name {
		case "webhooks", "integrations", "breakers":
			rebuild := map[string]func(context.Context, *pgxpool.Pool) (int, error){
				"webhooks": app.RebuildWebhooks, "integrations": app.RebuildIntegrations, "breakers": app.RebuildBreakers,
			}[name]
			var k int
			k, err = rebuild(ctx, pool)
			n = int64(k)
		default:
			n, err = rebuildProjection(ctx, pool, definition(name), o.batch, stderr, logger)
		}
		if err != nil {
			return err
		}
		d := time.Since(start)
		fmt.Fprintf(stdout, "%s: rebuilt from %d events in %s (%.0f events/s)\n", name, n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	}
	return nil
}

// definition returns a log projection's definition.
func definition(name string) projections.Definition {
	if name == "analytics" {
		return projections.Definition{
			Name: "analytics", Version: projections.AnalyticsVersion,
			Tables: projections.AnalyticsTables, Read: readLogLean,
			Projector: projections.Analytics{First: readFirst, Cache: projections.NewDestinationCache(0)},
		}
	}
	return projections.Definition{
		Name: "deliveries", Version: projections.DeliveriesVersion,
		Tables: projections.DeliveriesTables, Borrowed: []string{"webhooks"},
		AfterSwap: projections.Deliveries{}.RefreshLastTriggered, Projector: projections.Deliveries{},
	}
}

// rebuildProjection rebuilds a log projection into shadow tables, showing
// progress on stderr.
func rebuildProjection(ctx context.Context, pool *pgxpool.Pool, def projections.Definition, batch int, stderr io.Writer, logger *slog.Logger) (int64, error) {
	p := newRebuildProgress(def.Name, stderr)
	defer p.finish()
	return projections.Rebuild(ctx, pool, def, projections.RebuildConfig{
		Read: readLog, BatchSize: batch, ProgressFunc: p.update, Logger: logger,
	})
}

// rebuildProgress shows a rebuild's progress: a bar (events done, events/s, ETA)
// on a terminal, a plain line every few seconds otherwise.
type rebuildProgress struct {
	name  string
	w     io.Writer
	bar   *progressbar.ProgressBar
	start time.Time
	last  time.Time
	done  int64
}

// plainEvery is how often rebuildProgress prints a plain line.
const plainEvery = 2 * time.Second

func newRebuildProgress(name string, w io.Writer) *rebuildProgress {
	p := &rebuildProgress{name: name, w: w, start: time.Now()}
	if isTerminal(w) {
		p.bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(name),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth(), progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *rebuildProgress) update(done, total int64) {
	p.done = done
	if p.bar != nil {
		if p.bar.GetMax64() != total {
			p.bar.ChangeMax64(total)
		}
		_ = p.bar.Set64(done)
		return
	}
	now := time.Now()
	if now.Sub(p.last) < plainEvery {
		return
	}
	p.last = now
	rate := float64(done) / now.Sub(p.start).Seconds()
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "%s: %d of ~%d events, %.0f events/s, ETA %s\n", p.name, done, total, rate, eta)
}

func (p *rebuildProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// readFirst reads the first event of streams for the analytics projection.
func readFirst(ctx context.Context, tx pgx.Tx, ids []string) ([]domain.Recorded, error) {
	return eventstore.ReadFirst(ctx, tx, ids)
}

// readLogLean feeds the analytics projection, which needs neither metadata
// nor the attempts' headers and bodies.
func readLogLean(ctx context.Context, q projections.DB, after domain.LogPosition, limit int) ([]domain.Recorded, error) {
	return eventstore.ReadLogLean(ctx, q, after, limit)
}
