package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/loki-interceptor/lokihooks/domain"
)

// DeliveriesVersion is the definition version of the deliveries projection
// (see AnalyticsVersion).
const DeliveriesVersion = 1

// DeliveriesTables are the tables the deliveries projection owns.
var DeliveriesTables = []string{"deliveries", "delivery_attempts"}

// Definition describes a projection that Rebuild can build into shadow
// tables.
type Definition struct {
	// Name is the projection's checkpoint row ("deliveries").
	Name string
	// Version is the code's definition version.
	Version int
	// Tables are the tables the projection owns: only its projector writes
	// them. Their columns, defaults, constraints and indexes are copied
	// under the same names.
	Tables []string
	// Borrowed are tables the projector also writes but does not own (the
	// deliveries projection keeps webhooks.last_triggered_at). The rebuild
	// gives the projector empty stand-ins for them, so only the live
	// runner writes them: two runners updating the same rows in different
	// orders would deadlock, and the live runner's writes are complete.
	Borrowed []string
	// AfterSwap, if set, runs in the swap transaction once the new tables
	// are in place: it brings the borrowed tables up to them (the events
	// between the live checkpoint and the rebuild's reached only the
	// stand-ins).
	AfterSwap func(ctx context.Context, tx pgx.Tx) error
	// Read, if set, reads the log for this projection instead of
	// RebuildConfig.Read (a leaner read for a projection that needs less).
	Read ReadFunc
	// Projector applies events. It must name its tables unqualified: the
	// rebuild runs it with the shadow schema first on the search_path.
	Projector Projector
}

// Rebuild defaults.
const (
	// DefaultRebuildBatchSize is the batch of a rebuild: larger than a live
	// runner's, since a rebuild reads a long log.
	DefaultRebuildBatchSize = 5000
	// DefaultSwapLockTimeout bounds the wait of the swap for the tables'
	// readers.
	DefaultSwapLockTimeout = 30 * time.Second
)

// RebuildConfig configures Rebuild. The zero value is usable but for Read.
type RebuildConfig struct {
	// Read reads the event log (as RunnerConfig.Read). Required.
	Read ReadFunc
	// BatchSize is the most events per transaction (default
	// DefaultRebuildBatchSize, 5000).
	BatchSize int
	// SwapLockTimeout bounds how long the swap waits for the live tables'
	// readers (default DefaultSwapLockTimeout, 30s).
	SwapLockTimeout time.Duration
	// ProgressFunc, if set, is called after each batch with the events
	// applied so far and an estimate of the total (the log's size when the
	// rebuild started, raised as the rebuild passes it).
	ProgressFunc func(done, total int64)
	// Logger receives lifecycle logs (default: discard).
	Logger *slog.Logger
}

// Rebuild builds def's tables anew from the whole log, into shadow tables,
// and swaps them in. It returns the number of events applied.
//
// It copies each table (columns, defaults, constraints and indexes, under
// their own names) into the schema "<schema>_rb_<name>" together with a
// private checkpoint at the start of the log, and applies the log there
// with that schema first on the search_path, so the projector's
// unqualified statements write the shadow tables and read every other
// table where it is. Each batch is its own short transaction, like a
// Runner's, with the next batch read meanwhile; the live tables keep
// answering and the live runner keeps applying meanwhile.
// Once a read comes back short (the rebuild is near the log's head), one
// transaction locks the live checkpoint (pausing the live runner), takes
// the live tables (waiting for their readers), drops them, moves the
// shadow tables into the schema and sets the live checkpoint to the
// shadow's, with def.Version. The live runner then continues from there
// on the new tables; constraint and index names are those of before.
//
// Rebuilds of the same projection in any number of processes take turns
// (an advisory lock); another projection's may run at once. A rebuild that
// fails or is cancelled leaves the live tables untouched and drops its
// shadow schema (or, if it cannot, the next rebuild does).
func Rebuild(ctx context.Context, pool *pgxpool.Pool, def Definition, cfg RebuildConfig) (int64, error) {
	return rebuild(ctx, pool, def, cfg, true)
}

// EnsureVersion rebuilds def (as Rebuild) if the definition version stored
// with its checkpoint differs from def.Version, and reports whether it
// did. A projection that has applied nothing yet just takes def.Version.
// Call it before starting the projection's runner.
func EnsureVersion(ctx context.Context, pool *pgxpool.Pool, def Definition, cfg RebuildConfig) (bool, error) {
	stale, err := isStale(ctx, pool, def)
	if err != nil || !stale {
		return false, err
	}
	n, err := rebuild(ctx, pool, def, cfg, false)
	return n >= 0 && err == nil, err
}

const (
	selectVersion = `SELECT definition_version, position FROM projection_checkpoints WHERE name = $1`
	takeVersion   = `INSERT INTO projection_checkpoints (name, definition_version) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET definition_version = $2
		WHERE projection_checkpoints.position = 0 AND projection_checkpoints.transaction_id = '0'`
)

// isStale reports whether def must be rebuilt; a projection without
// applied events takes def.Version on the way.
func isStale(ctx context.Context, db DB, def Definition) (bool, error) {
	var version int
	var position int64
	err := db.QueryRow(ctx, selectVersion, def.Name).Scan(&version, &position)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("read definition version of %s: %w", def.Name, err)
	}
	if err == nil && version == def.Version {
		return false, nil
	}
	if errors.Is(err, pgx.ErrNoRows) || position == 0 {
		if _, err := db.Exec(ctx, takeVersion, def.Name, def.Version); err != nil {
			return false, fmt.Errorf("set definition version of %s: %w", def.Name, err)
		}
		var now int
		if err := db.QueryRow(ctx, selectVersion, def.Name).Scan(&now, &position); err != nil {
			return false, fmt.Errorf("read definition version of %s: %w", def.Name, err)
		}
		return now != def.Version, nil
	}
	return true, nil
}

// rebuild is Rebuild; unless force, it does nothing (and returns -1) when
// the version turns out current once the lock is held.
func rebuild(ctx context.Context, pool *pgxpool.Pool, def Definition, cfg RebuildConfig, force bool) (int64, error) {
	cfg = cfg.withDefaults()
	if def.Read != nil {
		cfg.Read = def.Read
	}
	if cfg.Read == nil || def.Projector == nil || def.Name == "" || len(def.Tables) == 0 {
		return 0, fmt.Errorf("rebuild %s: Read, Projector, Name and Tables are required", def.Name)
	}
	logger := cfg.Logger.With("component", "projections", "projection", def.Name)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("rebuild %s: %w", def.Name, err)
	}
	defer conn.Release()
	var main string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&main); err != nil {
		return 0, fmt.Errorf("rebuild %s: %w", def.Name, err)
	}
	lockKey := "lokihooks.rebuild:" + main + ":" + def.Name
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1))`, lockKey); err != nil {
		return 0, fmt.Errorf("rebuild %s: take lock: %w", def.Name, err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext($1))`, lockKey)
	}()
	if !force {
		stale, err := isStale(ctx, conn, def)
		if err != nil || !stale {
			return -1, err
		}
	}
	s := shadow{main: main, name: main + "_rb_" + def.Name, def: def}
	start := time.Now()
	logger.InfoContext(ctx, "projection rebuild started", "shadow_schema", s.name)
	// The shadow schema goes whatever happens: empty after a swap, a
	// partial build otherwise.
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `DROP SCHEMA IF EXISTS `+s.ident()+` CASCADE`); err != nil {
			logger.WarnContext(ctx, "shadow schema left behind", "shadow_schema", s.name, "error", err)
		}
	}()
	if err := s.create(ctx, conn); err != nil {
		return 0, fmt.Errorf("rebuild %s: create shadow tables: %w", def.Name, err)
	}
	n, err := s.fill(ctx, pool, cfg)
	if err != nil {
		return n, fmt.Errorf("rebuild %s: %w", def.Name, err)
	}
	if err := s.swap(ctx, conn, cfg.SwapLockTimeout); err != nil {
		return n, fmt.Errorf("rebuild %s: swap tables: %w", def.Name, err)
	}
	logger.InfoContext(ctx, "projection rebuilt", "events", n, "duration_ms", time.Since(start).Milliseconds())
	return n, nil
}

func (c RebuildConfig) withDefaults() RebuildConfig {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultRebuildBatchSize
	}
	if c.SwapLockTimeout <= 0 {
		c.SwapLockTimeout = DefaultSwapLockTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// shadow is the schema a rebuild builds in.
type shadow struct {
	main, name string
	def        Definition
}

func (s shadow) ident() string { return pgx.Identifier{s.name}.Sanitize() }

func (s shadow) table(t string) string { return pgx.Identifier{s.name, t}.Sanitize() }

func (s shadow) live(t string) string { return pgx.Identifier{s.main, t}.Sanitize() }

const (
	// selectConstraints lists the constraints to copy; NOT NULL is copied
	// with the columns, and a projection's tables have no foreign keys.
	selectConstraints = `SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'c', 'x') ORDER BY conname`
	// selectIndexes lists the indexes that back no constraint.
	selectIndexes = `SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = $1::regclass
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
		ORDER BY c.relname`
)

// create makes the shadow schema, tables and checkpoint in one short
// transaction, dropping what a failed rebuild left.
func (s shadow) create(ctx context.Context, conn *pgxpool.Conn) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		stmts := []string{
			`DROP SCHEMA IF EXISTS ` + s.ident() + ` CASCADE`,
			`CREATE SCHEMA ` + s.ident(),
			`CREATE TABLE ` + s.table("projection_checkpoints") + ` (LIKE ` + s.live("projection_checkpoints") + ` INCLUDING ALL)`,
		}
		for _, t := range s.def.Tables {
			stmts = append(stmts, `CREATE TABLE `+s.table(t)+` (LIKE `+s.live(t)+
				` INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS)`)
		}
		for _, t := range s.def.Borrowed {
			stmts = append(stmts, `CREATE TABLE `+s.table(t)+` (LIKE `+s.live(t)+` INCLUDING DEFAULTS)`)
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		for _, t := range s.def.Tables {
			if err := s.copyConstraints(ctx, tx, t); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+s.table("projection_checkpoints")+` (name, definition_version) VALUES ($1, $2)`,
			s.def.Name, s.def.Version)
		return err
	})
}

// copyConstraints gives the shadow table t the constraints and indexes of
// the live one, under the same names (names are per schema).
func (s shadow) copyConstraints(ctx context.Context, tx pgx.Tx, t string) error {
	type def struct{ name, sql string }
	read := func(q string) ([]def, error) {
		rows, err := tx.Query(ctx, q, s.live(t))
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (def, error) {
			var d def
			return d, r.Scan(&d.name, &d.sql)
		})
	}
	constraints, err := read(selectConstraints)
	if err != nil {
		return fmt.Errorf("read constraints of %s: %w", t, err)
	}
	indexes, err := read(selectIndexes)
	if err != nil {
		return fmt.Errorf("read indexes of %s: %w", t, err)
	}
	for _, c := range constraints {
		q := `ALTER TABLE ` + s.table(t) + ` ADD CONSTRAINT ` + pgx.Identifier{c.name}.Sanitize() + ` ` + c.sql
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("copy constraint %s: %w", c.name, err)
		}
	}
	for _, ix := range indexes {
		// pg_get_indexdef gives "CREATE [UNIQUE] INDEX name ON table USING
		// method (...) ..."; the part from USING on is kept.
		_, rest, ok := strings.Cut(ix.sql, " USING ")
		if !ok {
			return fmt.Errorf("copy index %s: unexpected definition %q", ix.name, ix.sql)
		}
		unique := ""
		if strings.HasPrefix(ix.sql, "CREATE UNIQUE INDEX") {
			unique = "UNIQUE "
		}
		q := `CREATE ` + unique + `INDEX ` + pgx.Identifier{ix.name}.Sanitize() + ` ON ` + s.table(t) + ` USING ` + rest
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("copy index %s: %w", ix.name, err)
		}
	}
	return nil
}

// fill applies the log to the shadow tables until a read comes back
// short. One goroutine reads the next batch while another projects the
// previous one and moves the shadow checkpoint (a transaction per batch),
// so reading the log and writing the tables overlap. Reading outside the
// writing transaction is safe: the shadow tables have one writer (the
// advisory lock), and each read keeps ReadLog's visibility rule.
func (s shadow) fill(ctx context.Context, pool *pgxpool.Pool, cfg RebuildConfig) (int64, error) {
	pc := pool.Config().Copy()
	pc.ConnConfig.RuntimeParams["search_path"] = s.ident() + ", " + pgx.Identifier{s.main}.Sanitize()
	pc.MinConns, pc.MaxConns = 0, 2
	sp, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return 0, err
	}
	defer sp.Close()
	var total int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&total); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan []domain.Recorded, 1)
	g.Go(func() error {
		defer close(batches)
		var after domain.LogPosition
		for {
			var recs []domain.Recorded
			err := pgx.BeginTxFunc(gctx, sp, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
				var err error
				recs, err = cfg.Read(gctx, tx, after, cfg.BatchSize)
				return err
			})
			if err != nil {
				return fmt.Errorf("read log: %w", err)
			}
			select {
			case batches <- recs:
			case <-gctx.Done():
				return gctx.Err()
			}
			if len(recs) < cfg.BatchSize {
				return nil
			}
			after = domain.PositionOf(recs[len(recs)-1])
		}
	})
	var done int64
	g.Go(func() error {
		for recs := range batches {
			if len(recs) == 0 {
				continue
			}
			last := recs[len(recs)-1]
			err := pgx.BeginFunc(gctx, sp, func(tx pgx.Tx) error {
				if err := s.def.Projector.Project(gctx, tx, recs); err != nil {
					return err
				}
				_, err := tx.Exec(gctx, updateCheckpoint, s.def.Name, strconv.FormatUint(last.TransactionID, 10), last.Position)
				return err
			})
			if err != nil {
				return fmt.Errorf("projection %s batch: %w", s.def.Name, err)
			}
			done += int64(len(recs))
			total = max(total, done)
			if cfg.ProgressFunc != nil {
				cfg.ProgressFunc(done, total)
			}
		}
		return nil
	})
	err = g.Wait()
	return done, err
}

// swap replaces the live tables with the shadow ones and moves the live
// checkpoint to the shadow's, in one transaction.
func (s shadow) swap(ctx context.Context, conn *pgxpool.Conn, lockTimeout time.Duration) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var txid string
		var position int64
		err := tx.QueryRow(ctx, `SELECT transaction_id::text, position FROM `+s.table("projection_checkpoints")+
			` WHERE name = $1`, s.def.Name).Scan(&txid, &position)
		if err != nil {
			return fmt.Errorf("read shadow checkpoint: %w", err)
		}
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = `+strconv.FormatInt(lockTimeout.Milliseconds(), 10)); err != nil {
			return err
		}
		// The live checkpoint first, as the runner locks it: the live
		// runner waits here instead of deadlocking on the tables.
		if _, err := tx.Exec(ctx, insertCheckpoint, s.def.Name); err != nil {
			return fmt.Errorf("lock live checkpoint: %w", err)
		}
		if _, err := tx.Exec(ctx, selectCheckpoint, s.def.Name); err != nil {
			return fmt.Errorf("lock live checkpoint: %w", err)
		}
		live := make([]string, len(s.def.Tables))
		for i, t := range s.def.Tables {
			live[i] = s.live(t)
		}
		stmts := []string{
			`LOCK TABLE ` + strings.Join(live, ", ") + ` IN ACCESS EXCLUSIVE MODE`,
			`DROP TABLE ` + strings.Join(live, ", "),
		}
		for _, t := range s.def.Tables {
			stmts = append(stmts, `ALTER TABLE `+s.table(t)+` SET SCHEMA `+pgx.Identifier{s.main}.Sanitize())
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		if s.def.AfterSwap != nil {
			if err := s.def.AfterSwap(ctx, tx); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE projection_checkpoints
			SET transaction_id = $2::text::xid8, position = $3, definition_version = $4, updated_at = now()
			WHERE name = $1`, s.def.Name, txid, position, s.def.Version)
		return err
	})
}
