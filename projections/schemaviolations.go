package projections

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/loki-interceptor/lokihooks/domain"
)

const (
	// The data is read from the body, the bytes delivered, which every
	// published event keeps.
	selectPublishedData = `SELECT id, body FROM published_events WHERE id = ANY($1::text[])`
	setSchemaViolations = `UPDATE published_events p SET schema_violations = v.violations::jsonb
		FROM unnest($1::text[], $2::text[]) AS v(id, violations) WHERE p.id = v.id`
)

// PublishedDataSQLTx returns the data objects of published events by id,
// on a database/sql transaction (the outbox consumer's). Ids that were
// never published are absent from the result.
func PublishedDataSQLTx(ctx context.Context, tx *sql.Tx, ids []domain.EventID) (map[domain.EventID]json.RawMessage, error) {
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = string(id)
	}
	rows, err := tx.QueryContext(ctx, selectPublishedData, list)
	if err != nil {
		return nil, fmt.Errorf("read data of %d published events: %w", len(ids), err)
	}
	defer rows.Close()
	out := make(map[domain.EventID]json.RawMessage, len(ids))
	for rows.Next() {
		var id string
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			return nil, fmt.Errorf("read data of published events: %w", err)
		}
		data, err := bodyData(body)
		if err != nil {
			return nil, fmt.Errorf("body of published event %s: %w", id, err)
		}
		out[domain.EventID(id)] = data
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read data of published events: %w", err)
	}
	return out, nil
}

// RecordSchemaViolationsSQLTx stores, for each event, the problems found
// in its data (replacing any stored before), in one statement on tx.
// Recording the same problems again changes nothing.
func RecordSchemaViolationsSQLTx(ctx context.Context, tx *sql.Tx, violations map[domain.EventID][]domain.FieldError) error {
	if len(violations) == 0 {
		return nil
	}
	ids := make([]string, 0, len(violations))
	docs := make([]string, 0, len(violations))
	for id, fields := range violations {
		doc, err := json.Marshal(fields)
		if err != nil {
			return fmt.Errorf("encode schema violations of %s: %w", id, err)
		}
		ids, docs = append(ids, string(id)), append(docs, string(doc))
	}
	if _, err := tx.ExecContext(ctx, setSchemaViolations, ids, docs); err != nil {
		return fmt.Errorf("record schema violations of %d events: %w", len(ids), err)
	}
	return nil
}

// bodyData returns the "data" member of a published body. lokihooks_publish
// writes {"id":…,"type":…,"timestamp":…,"data":<data>}, in that order, with
// an id and a type that cannot contain `,"data":`, so data is what follows
// the first `,"data":` up to the final brace; decoding the whole body is
// the fallback for any other layout.
func bodyData(body []byte) (json.RawMessage, error) {
	if _, data, found := bytes.Cut(body, []byte(`,"data":`)); found && bytes.HasSuffix(data, []byte("}")) &&
		bytes.HasPrefix(body, []byte(`{"id":`)) {
		return data[:len(data)-1], nil
	}
	var b struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, err
	}
	return b.Data, nil
}
