// Package dbtest gives tests an isolated PostgreSQL schema with every
// migration applied. Only _test.go files may import it.
//
// The database comes from TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable). Each call
// creates schema t_<package>_<random>, migrates it, returns a pool whose
// search_path is that schema, and drops the schema when the test ends.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/migrations"
)

// DefaultURL is used when TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// URL returns the test database URL.
func URL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

var (
	adminOnce sync.Once
	adminPool *pgxpool.Pool
	adminErr  error
)

// admin returns a process-wide pool with an empty search_path, so that a
// query forgetting its schema fails instead of touching public.
func admin(ctx context.Context) (*pgxpool.Pool, error) {
	adminOnce.Do(func() {
		cfg, err := pgxpool.ParseConfig(URL())
		if err != nil {
			adminErr = err
			return
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = ""
		cfg.MaxConns = 4
		adminPool, adminErr = pgxpool.NewWithConfig(ctx, cfg)
	})
	return adminPool, adminErr
}

// Opts tune Pool. A nil *Opts means defaults.
type Opts struct {
	// MaxConns bounds the test pool (default 10).
	MaxConns int32
	// Tracer, when set, sees every query of the pool (benchmarks count
	// them).
	Tracer pgx.QueryTracer
}

var nonWord = regexp.MustCompile(`[^a-z0-9_]+`)

// Pool returns a pool on a fresh, migrated schema. It skips the test under
// -short. The schema is dropped in t.Cleanup.
func Pool(tb testing.TB, opts *Opts) *pgxpool.Pool {
	tb.Helper()
	pool, _ := PoolSchema(tb, opts)
	return pool
}

// PoolSchema is Pool that also returns the schema name.
func PoolSchema(tb testing.TB, opts *Opts) (*pgxpool.Pool, string) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("skipping database test in -short mode")
	}
	ctx := context.Background()
	adm, err := admin(ctx)
	if err != nil {
		tb.Fatalf("connect to test database %s: %v", redact(URL()), err)
	}
	schema := newSchemaName(tb.Name())
	if _, err := adm.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		tb.Fatalf("create schema %s: %v", schema, err)
	}
	tb.Logf("dbtest: schema %s", schema)
	tb.Cleanup(func() {
		_, err := adm.Exec(context.WithoutCancel(ctx), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})

	cfg, err := pgxpool.ParseConfig(URL())
	if err != nil {
		tb.Fatalf("parse test database url: %v", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 10
	if opts != nil && opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts != nil && opts.Tracer != nil {
		cfg.ConnConfig.Tracer = opts.Tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("open pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	start := time.Now()
	if _, err := migrations.Up(ctx, pool); err != nil {
		tb.Fatalf("migrate schema %s: %v", schema, err)
	}
	tb.Logf("dbtest: migrated in %s", time.Since(start).Round(time.Millisecond))
	return pool, schema
}

// newSchemaName builds t_<test>_<random>, short enough for River's
// notification channels.
func newSchemaName(testName string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := nonWord.ReplaceAllString(strings.ToLower(testName), "_")
	// River prefixes its LISTEN/NOTIFY channels with the schema name, and
	// channel names are limited to 63 bytes.
	if len(name) > 24 {
		name = name[:24]
	}
	return fmt.Sprintf("t_%s_%s", name, hex.EncodeToString(b[:]))
}

// redact hides a password in a database URL.
func redact(u string) string {
	if at := strings.LastIndex(u, "@"); at > 0 {
		if scheme := strings.Index(u, "://"); scheme > 0 && scheme < at {
			return u[:scheme+3] + "…" + u[at:]
		}
	}
	return u
}
