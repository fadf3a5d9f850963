package relay

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Idle workers fetch jobs when River's insert notification for their queue
// arrives, and otherwise only every Config.FetchPollInterval. River's own
// inserts send that notification; the statements of riverjobs.go that make
// deliver jobs available with lokihooks' own SQL (woken, reclaimed,
// released, hastened jobs) send it too, in the same statement, so that
// those jobs run at once rather than at the next poll. The notification
// goes out when the statement's transaction commits, and only if a job is
// available then. The jobs River leaves available for later are announced
// when they are due (duewake.go).

// notifyAvailable is the end of such a statement: given a CTE changed that
// returns the id and the new state of each job the statement changed
// (RETURNING id, state), it selects one row, the ids, and sends River's
// insert notification if any of the jobs is now available. River (as of
// v0.51.2) listens on its topic river_insert prefixed with the schema of
// its listening connection and a dot; the payload names the queue (param
// is the number of the parameter that carries deliveryNotice). The
// notification's column is there for its side effect only.
func notifyAvailable(param int) string {
	return `SELECT coalesce(array_agg(id ORDER BY id), '{}'::bigint[]),
		CASE WHEN bool_or(state = 'available')
			THEN pg_notify(current_schema() || '.river_insert', $` + strconv.Itoa(param) + `)::text END
	FROM changed`
}

// deliveryNotice is the payload of River's insert notification for
// DeliveryQueue.
var deliveryNotice = insertNotice(DeliveryQueue)

// insertNotice is the payload of River's insert notification for queue:
// {"queue": queue}.
func insertNotice(queue string) string {
	// A struct of one string field always marshals.
	b, _ := json.Marshal(struct {
		Queue string `json:"queue"`
	}{queue})
	return string(b)
}

// changeNotifying runs stmt, a statement that ends with notifyAvailable,
// with args followed by deliveryNotice, and returns the ids of the jobs it
// changed.
func changeNotifying(ctx context.Context, db dbExecutor, stmt string, args ...any) ([]int64, error) {
	var ids []int64
	if err := db.QueryRow(ctx, stmt, append(args, deliveryNotice)...).Scan(&ids, nil); err != nil {
		return nil, err
	}
	return ids, nil
}

// notifyWorkers sends River's insert notification for the delivery queue
// on its own, in one statement: idle workers of every process fetch.
func notifyWorkers(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, `SELECT pg_notify(current_schema() || '.river_insert', $1)`, deliveryNotice)
	return err
}
