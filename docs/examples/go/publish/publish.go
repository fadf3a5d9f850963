// Package publish shows a LOKI service publishing lokihooks events from Go,
// inside its own database transaction: the event exists if and only if the
// transaction commits.
package publish

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/eventstore"
)

// DocumentValidated records that a document passed validation and publishes
// validation.completed on the same pgx transaction.
func DocumentValidated(ctx context.Context, pool *pgxpool.Pool, documentID string) (eventID string, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE documents SET validation_status = 'pass' WHERE id = $1`, documentID); err != nil {
			return err
		}
		id, err := eventstore.PublishTx(ctx, tx, eventstore.PublishParams{
			Type: "validation.completed",
			// A deterministic id makes a retried transaction publish once.
			ID: "val_" + documentID + ":completed",
			Data: map[string]any{
				"source_id": "val_" + documentID, "document_id": documentID, "validation_status": "pass",
				"gates_passed": 8, "gates_failed": 0, "issues": []any{}, "processing_time_ms": 523.45,
			},
		})
		eventID = string(id)
		return err // an error rolls the transaction back: no event
	})
	return eventID, err
}

// ComplianceAlert records an alert and publishes compliance.alert on a
// database/sql transaction (driver "pgx", from github.com/jackc/pgx/v5/stdlib).
func ComplianceAlert(ctx context.Context, db *sql.DB, documentID, message string) (eventID string, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback() //nolint:errcheck // does nothing once committed
	if _, err := tx.ExecContext(ctx, `UPDATE documents SET validation_status = 'fail' WHERE id = $1`, documentID); err != nil {
		return "", err
	}
	id, err := eventstore.PublishSQLTx(ctx, tx, eventstore.PublishParams{
		Type: "compliance.alert",
		// Data is anything that encodes to a JSON object: a struct, a map,
		// json.RawMessage or []byte of JSON.
		Data: struct {
			AlertLevel        string   `json:"alert_level"`
			Message           string   `json:"message"`
			AffectedDocuments []string `json:"affected_documents"`
		}{"high", message, []string{documentID}},
	})
	if err != nil {
		return "", err
	}
	return string(id), tx.Commit()
}
