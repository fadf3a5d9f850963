package app

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/projections"
)

// SchemaViolationFunc is told of each event whose data violates its type's
// schema, with the number of problems found. It runs on the fan-out's
// transaction: it must be quick and must not block.
type SchemaViolationFunc func(ctx context.Context, eventType string, problems int)

// DefaultSchemaLogsPerSecond is how many violating events SchemaCheck logs
// per second by default.
const DefaultSchemaLogsPerSecond = 10

// SchemaCheckConfig configures a SchemaCheck. Zero values mean the defaults
// stated.
type SchemaCheckConfig struct {
	// Logger gets one Warn line per violating event (default: discard).
	Logger *slog.Logger
	// LogsPerSecond bounds those lines (default DefaultSchemaLogsPerSecond),
	// so that a producer publishing bad data fast cannot flood the log; the
	// next line logged counts the ones left out (not_logged). Every
	// violation is still recorded on its event and told to ViolationFunc.
	LogsPerSecond int
	// ViolationFunc, when set, is called once per violating event (default:
	// nothing). It is where a metric counts violations.
	ViolationFunc SchemaViolationFunc
	// NowFunc is the clock of the log limit (default time.Now).
	NowFunc func() time.Time
}

// SchemaCheck checks the data of published events against the catalog
// schemas when the fan-out schedules them (it satisfies relay.EventChecker).
//
// lokihooks_publish, which SQL and Go producers call, checks that data is a
// JSON object but cannot check a JSON Schema: the catalog lives in this
// binary. So the fan-out checks each event with domain.ValidateEventData,
// the validator behind the API's 422, and records what it finds on the
// published event (GET /api/v1/events/{id} shows schema_violations), logs a
// Warn line with the event id and the JSON pointers (never a value), and
// delivers the event anyway: the producer's transaction committed, the
// event happened, and receivers ignore fields they do not know; dropping
// it would lose an event for a mistake its receivers may well tolerate.
//
// It is safe for concurrent use.
type SchemaCheck struct {
	logger    *slog.Logger
	violation SchemaViolationFunc
	now       func() time.Time
	limit     int

	mu        sync.Mutex
	window    time.Time // start of the current second of logging
	logged    int       // lines logged in it
	notLogged int       // lines left out since the last one logged
}

// NewSchemaCheck returns the fan-out's schema check.
func NewSchemaCheck(cfg SchemaCheckConfig) *SchemaCheck {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LogsPerSecond <= 0 {
		cfg.LogsPerSecond = DefaultSchemaLogsPerSecond
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	return &SchemaCheck{
		logger: cfg.Logger.With("component", "fanout"), violation: cfg.ViolationFunc,
		now: cfg.NowFunc, limit: cfg.LogsPerSecond,
	}
}

// CheckEventsSQLTx checks the data of events on the fan-out's transaction
// and records the violations found. Events whose type this binary does not
// know, or that were not published through lokihooks_publish, are not
// checked. It returns an error only when reading or recording fails.
func (c *SchemaCheck) CheckEventsSQLTx(ctx context.Context, tx *sql.Tx, events []domain.EventRef) error {
	ids := make([]domain.EventID, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	data, err := projections.PublishedDataSQLTx(ctx, tx, ids)
	if err != nil {
		return err
	}
	var found map[domain.EventID][]domain.FieldError
	for _, e := range events {
		d, ok := data[e.ID]
		if !ok {
			continue
		}
		var ve *domain.ValidationError
		if !errors.As(domain.ValidateEventData(e.Type, d), &ve) {
			continue // valid, or a type of another version of the catalog
		}
		if found == nil {
			found = map[domain.EventID][]domain.FieldError{}
		}
		found[e.ID] = ve.Fields
		c.report(ctx, e, ve.Fields)
	}
	return projections.RecordSchemaViolationsSQLTx(ctx, tx, found)
}

func (c *SchemaCheck) report(ctx context.Context, e domain.EventRef, fields []domain.FieldError) {
	if c.violation != nil {
		c.violation(ctx, e.Type, len(fields))
	}
	log, notLogged := c.mayLog()
	if !log {
		return
	}
	pointers := make([]string, len(fields))
	for i, f := range fields {
		pointers[i] = f.Pointer // "" is the data itself
	}
	attrs := []any{"event_id", e.ID, "event_type", e.Type, "pointers", pointers}
	if notLogged > 0 {
		attrs = append(attrs, "not_logged", notLogged)
	}
	c.logger.WarnContext(ctx, "event data violates its schema; delivered anyway", attrs...)
}

// mayLog reports whether a line fits in this second's budget, and how many
// were left out before it.
func (c *SchemaCheck) mayLog() (ok bool, notLogged int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); now.Sub(c.window) >= time.Second {
		c.window, c.logged = now, 0
	}
	if c.logged >= c.limit {
		c.notLogged++
		return false, 0
	}
	c.logged++
	notLogged, c.notLogged = c.notLogged, 0
	return true, notLogged
}
