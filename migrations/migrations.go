// Package migrations owns lokihooks' database schema: embedded, numbered,
// forward-only SQL files plus River's own migrations, applied by Up under an
// advisory lock so that several processes may start at once.
//
// It imports no other lokihooks package. Every statement is unqualified, so
// the schema can live in any PostgreSQL schema (tests use one per test).
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed sql/*.up.sql
var files embed.FS

// Migration is one embedded SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// All returns the embedded migrations in version order. It panics if an
// embedded file is misnamed: that is a build defect, not a runtime condition.
func All() []Migration {
	entries, err := fs.ReadDir(files, "sql")
	if err != nil {
		panic(fmt.Sprintf("read embedded migrations: %v", err))
	}
	out := make([]Migration, 0, len(entries))
	for _, e := range entries {
		base := strings.TrimSuffix(e.Name(), ".up.sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			panic(fmt.Sprintf("migration %q is not named NNNN_name.up.sql", e.Name()))
		}
		body, err := files.ReadFile(path.Join("sql", e.Name()))
		if err != nil {
			panic(fmt.Sprintf("read migration %s: %v", e.Name(), err))
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			panic(fmt.Sprintf("migration versions must be 1..n without gaps; found %d at %d", m.Version, i+1))
		}
	}
	return out
}

// Latest returns the highest embedded migration version.
func Latest() int { return len(All()) }

const (
	createVersionTable = `CREATE TABLE IF NOT EXISTS lokihooks_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`
	// The lock key is per schema, so parallel tests in separate schemas do not
	// wait on each other while two servers on one schema do.
	lockSchema        = `SELECT pg_advisory_lock(hashtext('lokihooks.migrate:' || current_schema()))`
	unlockSchema      = `SELECT pg_advisory_unlock(hashtext('lokihooks.migrate:' || current_schema()))`
	selectApplied     = `SELECT coalesce(max(version), 0) FROM lokihooks_migrations`
	insertApplied     = `INSERT INTO lokihooks_migrations (version, name) VALUES ($1, $2)`
	selectTableExists = `SELECT to_regclass('lokihooks_migrations') IS NOT NULL`
)

// Result reports what Up applied.
type Result struct {
	// Applied lists the versions applied by this call (empty when current).
	Applied []int
}

// Up applies every pending migration, ours then River's, while holding a
// session advisory lock, so concurrent callers apply each exactly once. Our
// migrations run in one transaction; River's run in its own transactions
// (one of them adds an enum value, which PostgreSQL forbids using in the
// transaction that added it). The pool's search_path selects the schema.
func Up(ctx context.Context, pool *pgxpool.Pool) (res *Result, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, lockSchema); err != nil {
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), unlockSchema); uerr != nil {
			err = errors.Join(err, fmt.Errorf("release migration lock: %w", uerr))
		}
	}()

	res = &Result{}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, createVersionTable); err != nil {
			return fmt.Errorf("create version table: %w", err)
		}
		var current int
		if err := tx.QueryRow(ctx, selectApplied).Scan(&current); err != nil {
			return fmt.Errorf("read applied version: %w", err)
		}
		for _, m := range All() {
			if m.Version <= current {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, insertApplied, m.Version, m.Name); err != nil {
				return fmt.Errorf("record migration %04d: %w", m.Version, err)
			}
			res.Applied = append(res.Applied, m.Version)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// River's migrations run one version per transaction on the same
	// connection: a pool of one connection must not wait on itself.
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: discardLogger()})
	if err != nil {
		return nil, fmt.Errorf("create river migrator: %w", err)
	}
	for {
		var applied int
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// MigrateTx is deprecated because some River versions cannot
			// share a transaction; MaxSteps: 1 runs exactly one per
			// transaction, which is what Migrate would do, on our own
			// connection (see above).
			//nolint:staticcheck // SA1019: one version per transaction, as explained above
			r, err := migrator.MigrateTx(ctx, tx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{MaxSteps: 1})
			if r != nil {
				applied = len(r.Versions)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("apply river migrations: %w", err)
		}
		if applied == 0 {
			break
		}
	}
	if _, err := conn.Exec(ctx, riverIndexes); err != nil {
		return nil, fmt.Errorf("adapt river's indexes: %w", err)
	}
	return res, nil
}

// riverIndexes adapts River's job table to lokihooks, after River's own
// migrations (which create the table, so this cannot be a numbered
// migration). River's GIN indexes on args and metadata cost a delivery job
// more WAL than its row, each time the row is written (inserted, then
// fetched), and its index on kind another entry each time; lokihooks looks
// deliver jobs up by destination only, through the expression index, and
// River's own queries use none of the three (relay/riverjobs.go; relay
// tells River's reindexer which indexes remain). Idempotent: it runs on every Up, so it also undoes
// a River migration that brings the GIN indexes back.
const riverIndexes = `DROP INDEX IF EXISTS river_job_args_index;
DROP INDEX IF EXISTS river_job_metadata_index;
DROP INDEX IF EXISTS river_job_kind;
CREATE INDEX IF NOT EXISTS river_job_deliver_destination_idx ON river_job ((args->>'destination_id')) WHERE kind = 'deliver'`

// ErrPending reports that the database schema is behind the binary.
var ErrPending = errors.New("migrations pending")

// Check returns nil when every embedded migration has been applied, and an
// error wrapping ErrPending otherwise. It takes no lock and writes nothing.
func Check(ctx context.Context, db interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
},
) error {
	var exists bool
	if err := db.QueryRow(ctx, selectTableExists).Scan(&exists); err != nil {
		return fmt.Errorf("check migrations table: %w", err)
	}
	if !exists {
		return fmt.Errorf("%w: none applied", ErrPending)
	}
	var current int
	if err := db.QueryRow(ctx, selectApplied).Scan(&current); err != nil {
		return fmt.Errorf("read applied version: %w", err)
	}
	if latest := Latest(); current < latest {
		return fmt.Errorf("%w: at %d of %d", ErrPending, current, latest)
	}
	return nil
}
