package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"golang.org/x/sync/errgroup"

	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/httpapi"
	"github.com/loki-interceptor/lokihooks/internal/webhookstore"
	"github.com/loki-interceptor/lokihooks/migrations"
	"github.com/loki-interceptor/lokihooks/projections"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(getenv, true)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logger := newLogger(stderr, cfg.LogLevel)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	pool, err := openPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := migrations.Up(ctx, pool); err != nil {
		return err
	}

	events := eventstore.New(pool, eventstore.Config{Projectors: []eventstore.Projector{projections.Webhooks{}}, Logger: logger})
	api := httpapi.New(httpapi.Deps{
		Webhooks:  webhookstore.New(events, pool),
		Readiness: readiness{pool: pool},
	}, httpapi.Config{APIKeys: cfg.APIKeys, AllowHTTP: cfg.AllowHTTP, Version: version, Logger: logger})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "lokihooks %s serving\n  API:     %s/api/v1\n  docs:    %s/docs\n  spec:    %s/openapi.json\n  API key: one of the %d keys in %s (send Authorization: Bearer <key>)\n",
		version, base, base, base, len(cfg.APIKeys), envAPIKeys)
	logger.Info("serving", "config", cfg.String())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	})
	return g.Wait()
}

// readiness reports the database reachable and its schema current.
type readiness struct{ pool *pgxpool.Pool }

func (r readiness) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := r.pool.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable")
	}
	if err := migrations.Check(ctx, r.pool); err != nil {
		return err
	}
	return nil
}
