package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/migrations"
)

func migrate(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	_, pool, err := connect(ctx, getenv)
	if err != nil {
		return err
	}
	defer pool.Close()
	res, err := migrations.Up(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrations: applied %v, schema at version %d\n", res.Applied, migrations.Latest())
	return nil
}

// connect reads the configuration of a command that only needs the
// database (migrate, replay) and opens a small pool.
func connect(ctx context.Context, getenv func(string) string) (config, *pgxpool.Pool, error) {
	cfg, err := loadConfig(getenv, false)
	if err != nil {
		return cfg, nil, configError(err)
	}
	pool, err := openPool(ctx, cfg.DatabaseURL, 0)
	return cfg, pool, err
}

// openPool connects to the database. Unless DATABASE_URL sets
// pool_max_conns, the pool is sized by poolSize.
func openPool(ctx context.Context, url string, workers int) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (want postgres://user@host:5432/database?sslmode=disable)", envDatabaseURL, err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = poolSize(workers)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s:%d: %w (is PostgreSQL running there? make db-up starts one; %s selects another)",
			cfg.ConnConfig.Host, cfg.ConnConfig.Port, err, envDatabaseURL)
	}
	return pool, nil
}

// Outside the pool, a process holds up to extraConns connections of its
// own: the workers' notification listener (River's), the heartbeat's
// connection and the fan-out's notification listener.
const (
	maxPoolSize = 22
	extraConns  = 3
)

// poolSize is the default pool size: deliveries hold no connection while
// they wait on a receiver, and finished ones are recorded in batches, so a
// few connections serve hundreds of workers. With extraConns, a process
// opens at most 25 connections: three processes and the producers fit in a
// default PostgreSQL (max_connections 100). docs/operations.md says how to
// size it for more.
func poolSize(workers int) int32 {
	return int32(min(maxPoolSize, max(10, workers/8)))
}
