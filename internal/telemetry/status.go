package telemetry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier runs read-only queries: *pgxpool.Pool, *pgx.Conn and pgx.Tx
// satisfy it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// FanoutGroup is the outbox consumer group of the fan-out (relay.FanoutGroup).
const FanoutGroup = "fanout"

// Status is a summary of lokihooks' state, read from the database.
type Status struct {
	At          time.Time
	Outbox      OutboxLag
	Projections []ProjectionLag
	Jobs        []JobCount
	// Destinations counts the webhooks and integrations that are not
	// deleted, by kind and status.
	Destinations []DestinationCount
	// Breakers counts the circuit breakers that hold deliveries (open or
	// half_open), by kind and state.
	Breakers []BreakerCount
	// FailingCount counts, by kind, the destinations whose latest attempt
	// failed; Failing lists the longest failing (at most MaxFailing).
	FailingCount map[string]int64
	Failing      []FailingDestination
	// XminHolder is the oldest transaction of the cluster holding a
	// transaction id; nil if none.
	XminHolder *XminHolder
}

// OutboxLag is how far the fan-out is behind the outbox.
type OutboxLag struct {
	// Events is how many outbox events it has not consumed.
	Events int64
	// OldestAge is the age of the first of them (0 when none).
	OldestAge time.Duration
}

// ProjectionLag is how far a projection is behind the event log.
type ProjectionLag struct {
	Name      string
	Events    int64
	OldestAge time.Duration
}

// JobCount counts River jobs of one kind in one state.
type JobCount struct {
	Kind, State string
	Count       int64
}

// DestinationCount counts destinations of one kind in one status.
type DestinationCount struct {
	Kind, Status string
	Count        int64
}

// BreakerCount counts the circuit breakers of one kind in one state.
type BreakerCount struct {
	Kind, State string
	Count       int64
}

// FailingDestination is a destination whose latest attempt failed.
type FailingDestination struct {
	ID, Name, Kind, Status string
	// BreakerState is its circuit breaker's state (closed when it has none).
	BreakerState string
	Since        time.Time
}

// XminHolder is a transaction holding back pg_snapshot_xmin: until it ends,
// the outbox fan-out and the projections read nothing committed after it
// started writing.
type XminHolder struct {
	// PID is its backend's process id (0 for a prepared transaction).
	PID             int32
	ApplicationName string
	Database        string
	// State is pg_stat_activity's state (active, idle in transaction, …),
	// or "prepared".
	State string
	// Age is how long ago the transaction started.
	Age time.Duration
}

// MaxFailing bounds Status.Failing.
const MaxFailing = 10

const (
	// outboxLagSQL counts the outbox rows after the fan-out's position
	// (the order it consumes in) and dates the first by its publication.
	outboxLagSQL = `
	WITH pos AS (
		SELECT coalesce((SELECT last_processed_transaction_id FROM watermill_offsets_outbox WHERE consumer_group = $1), '0'::xid8) AS tx,
		       coalesce((SELECT offset_acked FROM watermill_offsets_outbox WHERE consumer_group = $1), 0) AS off
	)
	SELECT (SELECT count(*) FROM watermill_outbox o, pos WHERE (o.transaction_id, o."offset") > (pos.tx, pos.off)),
	       coalesce((SELECT extract(epoch FROM now() - p.published_at)::float8
	                 FROM watermill_outbox o CROSS JOIN pos JOIN published_events p ON p.id = o.uuid
	                 WHERE (o.transaction_id, o."offset") > (pos.tx, pos.off)
	                 ORDER BY o.transaction_id, o."offset" LIMIT 1), 0)`
	projectionLagSQL = `
	SELECT c.name,
	       (SELECT count(*) FROM events e WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position)),
	       coalesce((SELECT extract(epoch FROM now() - e.recorded_at)::float8 FROM events e
	                 WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position)
	                 ORDER BY e.transaction_id, e.position LIMIT 1), 0)
	FROM projection_checkpoints c ORDER BY c.name`
	jobsSQL = `
	SELECT kind, state::text, count(*) FROM river_job
	WHERE state IN ('available', 'scheduled', 'running', 'retryable', 'discarded')
	GROUP BY kind, state ORDER BY kind, state`
	destinationsSQL = `
	SELECT 'webhook', status, count(*) FROM webhooks WHERE status <> 'deleted' GROUP BY status
	UNION ALL
	SELECT integration_type, status, count(*) FROM integrations WHERE status <> 'deleted' GROUP BY integration_type, status
	ORDER BY 1, 2`
	breakersSQL = `
	SELECT coalesce(i.integration_type, 'webhook'), b.state, count(*)
	FROM breakers b LEFT JOIN integrations i ON i.id = b.destination_id
	WHERE b.state <> 'closed' GROUP BY 1, 2 ORDER BY 1, 2`
	failingSQL = `
	SELECT h.destination_id, coalesce(w.name, i.name, ''), coalesce(i.integration_type, 'webhook'),
	       coalesce(w.status, i.status, ''), coalesce(b.state, 'closed'), h.failing_since
	FROM breaker_health h
	LEFT JOIN webhooks w ON w.id = h.destination_id
	LEFT JOIN integrations i ON i.id = h.destination_id
	LEFT JOIN breakers b ON b.destination_id = h.destination_id
	WHERE h.failing_since IS NOT NULL AND coalesce(w.status, i.status, 'deleted') <> 'deleted'
	ORDER BY h.failing_since, h.destination_id`
	// xminHolderSQL finds the transaction with the oldest transaction id
	// in the cluster, prepared transactions included. Seeing other roles'
	// sessions takes pg_monitor (or pg_read_all_stats).
	xminHolderSQL = `
	SELECT pid, app, state, db, extract(epoch FROM now() - since)::float8 FROM (
		SELECT pid, coalesce(application_name, '') AS app, coalesce(state, '') AS state,
		       coalesce(datname, '') AS db, coalesce(xact_start, now()) AS since, age(backend_xid) AS xid_age
		FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
		UNION ALL
		SELECT 0, 'prepared transaction ' || gid, 'prepared', database, prepared, age(transaction)
		FROM pg_prepared_xacts
	) h ORDER BY xid_age DESC LIMIT 1`
)

// ReadOutboxLag returns how far the fan-out is behind the outbox.
func ReadOutboxLag(ctx context.Context, db Querier) (OutboxLag, error) {
	var lag OutboxLag
	var age float64
	if err := db.QueryRow(ctx, outboxLagSQL, FanoutGroup).Scan(&lag.Events, &age); err != nil {
		return lag, fmt.Errorf("read outbox lag: %w", err)
	}
	lag.OldestAge = seconds(age)
	return lag, nil
}

// ReadXminHolder returns the oldest transaction holding a transaction id
// in the cluster, or nil.
func ReadXminHolder(ctx context.Context, db Querier) (*XminHolder, error) {
	var h XminHolder
	var age float64
	err := db.QueryRow(ctx, xminHolderSQL).Scan(&h.PID, &h.ApplicationName, &h.State, &h.Database, &age)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the oldest transaction: %w", err)
	}
	h.Age = seconds(age)
	return &h, nil
}

// ReadStatus reads the whole summary. Each part is a short read-only
// query; together they take a few milliseconds on a healthy database
// (the lag counts grow with the backlog they count).
func ReadStatus(ctx context.Context, db Querier) (*Status, error) {
	s := &Status{At: time.Now().UTC(), FailingCount: map[string]int64{}}
	var err error
	if s.Outbox, err = ReadOutboxLag(ctx, db); err != nil {
		return nil, err
	}
	err = scanRows(ctx, db, projectionLagSQL, func(r pgx.Rows) error {
		var p ProjectionLag
		var age float64
		if err := r.Scan(&p.Name, &p.Events, &age); err != nil {
			return err
		}
		p.OldestAge = seconds(age)
		s.Projections = append(s.Projections, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read projection lag: %w", err)
	}
	if err = scanRows(ctx, db, jobsSQL, func(r pgx.Rows) error {
		var j JobCount
		if err := r.Scan(&j.Kind, &j.State, &j.Count); err != nil {
			return err
		}
		s.Jobs = append(s.Jobs, j)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	s.Jobs = withZeroJobs(s.Jobs)
	if err = scanRows(ctx, db, destinationsSQL, func(r pgx.Rows) error {
		var d DestinationCount
		if err := r.Scan(&d.Kind, &d.Status, &d.Count); err != nil {
			return err
		}
		s.Destinations = append(s.Destinations, d)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("count destinations: %w", err)
	}
	if err = scanRows(ctx, db, breakersSQL, func(r pgx.Rows) error {
		var b BreakerCount
		if err := r.Scan(&b.Kind, &b.State, &b.Count); err != nil {
			return err
		}
		s.Breakers = append(s.Breakers, b)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("count open breakers: %w", err)
	}
	if err = scanRows(ctx, db, failingSQL, func(r pgx.Rows) error {
		var f FailingDestination
		if err := r.Scan(&f.ID, &f.Name, &f.Kind, &f.Status, &f.BreakerState, &f.Since); err != nil {
			return err
		}
		s.FailingCount[f.Kind]++
		if len(s.Failing) < MaxFailing {
			s.Failing = append(s.Failing, f)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list failing destinations: %w", err)
	}
	if s.XminHolder, err = ReadXminHolder(ctx, db); err != nil {
		return nil, err
	}
	return s, nil
}

// JobStates are the River job states Status counts; DeliverJobKind is the
// kind of delivery jobs, always counted.
var JobStates = []string{"available", "discarded", "retryable", "running", "scheduled"}

// DeliverJobKind is the River kind of delivery jobs (relay.DeliverArgs).
const DeliverJobKind = "deliver"

// withZeroJobs adds a zero count for every state of every kind present,
// delivery jobs always included, so that each series exists while it is
// zero (an alert on a missing series never fires).
func withZeroJobs(jobs []JobCount) []JobCount {
	have := map[[2]string]bool{}
	kinds := []string{DeliverJobKind}
	for _, j := range jobs {
		have[[2]string{j.Kind, j.State}] = true
		if !slices.Contains(kinds, j.Kind) {
			kinds = append(kinds, j.Kind)
		}
	}
	for _, k := range kinds {
		for _, st := range JobStates {
			if !have[[2]string{k, st}] {
				jobs = append(jobs, JobCount{Kind: k, State: st})
			}
		}
	}
	slices.SortFunc(jobs, func(a, b JobCount) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.State, b.State))
	})
	return jobs
}

func scanRows(ctx context.Context, db Querier, sql string, scan func(pgx.Rows) error) error {
	rows, err := db.Query(ctx, sql)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func seconds(s float64) time.Duration {
	return time.Duration(max(0, s) * float64(time.Second))
}
