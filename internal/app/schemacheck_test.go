package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
)

// TestSchemaCheck_RecordsViolations publishes through lokihooks_publish,
// which checks no schema, and runs the fan-out's check on a database/sql
// transaction as the fan-out does.
func TestSchemaCheck_RecordsViolations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := dbtest.Pool(t, nil)
	publish := func(typ, data string) domain.EventID {
		var id domain.EventID
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var err error
			id, err = eventstore.PublishTx(ctx, tx, eventstore.PublishParams{Type: typ, Data: []byte(data)})
			return err
		}))
		return id
	}
	valid := publish(domain.EventTypeValidationFailed, `{"document_id":"doc_1","error_code":"E1","message":"m"}`)
	invalid := publish(domain.EventTypeValidationCompleted, `{"document_id":"doc_secret_value","validation_status":"maybe"}`)
	var logs bytes.Buffer
	var mu sync.Mutex
	var told []string
	check := app.NewSchemaCheck(app.SchemaCheckConfig{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		ViolationFunc: func(_ context.Context, eventType string, problems int) {
			mu.Lock()
			defer mu.Unlock()
			told = append(told, eventType)
			require.Equal(t, 5, problems)
		},
	})
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { _ = db.Close() })
	refs := []domain.EventRef{
		{ID: valid, Type: domain.EventTypeValidationFailed},
		{ID: invalid, Type: domain.EventTypeValidationCompleted},
		{ID: "evt_never_published", Type: domain.EventTypeSystemError},
	}
	run := func() {
		tx, err := db.BeginTx(ctx, &sql.TxOptions{})
		require.NoError(t, err)
		require.NoError(t, check.CheckEventsSQLTx(ctx, tx, refs))
		require.NoError(t, tx.Commit())
	}
	run()
	run() // the fan-out may check a group again: nothing changes

	got, err := projections.GetPublishedEvent(ctx, pool, invalid)
	require.NoError(t, err)
	require.Equal(t, []domain.FieldError{
		{Field: "data.gates_failed", Message: "is required", Pointer: "/gates_failed"},
		{Field: "data.gates_passed", Message: "is required", Pointer: "/gates_passed"},
		{Field: "data.processing_time_ms", Message: "is required", Pointer: "/processing_time_ms"},
		{Field: "data.source_id", Message: "is required", Pointer: "/source_id"},
		{Field: "data.validation_status", Message: `must be one of "pass", "fail", "warning"`, Pointer: "/validation_status"},
	}, got.SchemaViolations)
	ok, err := projections.GetPublishedEvent(ctx, pool, valid)
	require.NoError(t, err)
	require.Empty(t, ok.SchemaViolations)

	require.Equal(t, []string{domain.EventTypeValidationCompleted, domain.EventTypeValidationCompleted}, told)
	line, _, _ := bytes.Cut(logs.Bytes(), []byte("\n"))
	require.Contains(t, string(line), "level=WARN")
	require.Contains(t, string(line), "event_id="+string(invalid))
	require.Contains(t, string(line), "pointers=\"[/gates_failed /gates_passed /processing_time_ms /source_id /validation_status]\"")
	require.NotContains(t, logs.String(), "doc_secret_value", "no payload value is logged")
	require.NotContains(t, logs.String(), "maybe")
}

// BenchmarkSchemaCheck measures the fan-out's check of one group of 500
// valid events (read from published_events, validated, nothing recorded):
// the cost the check adds to every group.
func BenchmarkSchemaCheck(b *testing.B) {
	ctx := b.Context()
	pool := dbtest.Pool(b, nil)
	info, err := domain.LookupEventType(domain.EventTypeValidationCompleted)
	require.NoError(b, err)
	const group = 500
	refs := make([]domain.EventRef, 0, group)
	require.NoError(b, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for range group {
			id, err := eventstore.PublishTx(ctx, tx, eventstore.PublishParams{Type: info.Name, Data: info.Example})
			if err != nil {
				return err
			}
			refs = append(refs, domain.EventRef{ID: id, Type: info.Name})
		}
		return nil
	}))
	check := app.NewSchemaCheck(app.SchemaCheckConfig{})
	db := stdlib.OpenDBFromPool(pool)
	b.Cleanup(func() { _ = db.Close() })
	b.ReportAllocs()
	for b.Loop() {
		tx, err := db.BeginTx(ctx, &sql.TxOptions{})
		require.NoError(b, err)
		require.NoError(b, check.CheckEventsSQLTx(ctx, tx, refs))
		require.NoError(b, tx.Rollback())
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*group), "µs/event")
}

// TestSchemaCheck_LimitsLogs: a producer publishing bad data fast does not
// flood the log; the next line says how many were left out, and every
// violation is still recorded and counted.
func TestSchemaCheck_LimitsLogs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := dbtest.Pool(t, nil)
	var refs []domain.EventRef
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for range 4 {
			id, err := eventstore.PublishTx(ctx, tx, eventstore.PublishParams{Type: domain.EventTypeSystemError, Data: []byte(`{}`)})
			if err != nil {
				return err
			}
			refs = append(refs, domain.EventRef{ID: id, Type: domain.EventTypeSystemError})
		}
		return nil
	}))
	var logs bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	counted := 0
	check := app.NewSchemaCheck(app.SchemaCheckConfig{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), LogsPerSecond: 1,
		NowFunc:       func() time.Time { return now },
		ViolationFunc: func(context.Context, string, int) { counted++ },
	})
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { _ = db.Close() })
	run := func(refs []domain.EventRef) {
		tx, err := db.BeginTx(ctx, &sql.TxOptions{})
		require.NoError(t, err)
		require.NoError(t, check.CheckEventsSQLTx(ctx, tx, refs))
		require.NoError(t, tx.Commit())
	}
	run(refs[:3])
	now = now.Add(time.Second)
	run(refs[3:])

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[0], "event_id="+string(refs[0].ID))
	require.NotContains(t, lines[0], "not_logged")
	require.Contains(t, lines[1], "event_id="+string(refs[3].ID))
	require.Contains(t, lines[1], "not_logged=2")
	require.Equal(t, 4, counted)
	var recorded int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM published_events WHERE schema_violations IS NOT NULL`).Scan(&recorded))
	require.Equal(t, 4, recorded)
}
