package relay

import (
	"context"

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

// deliveryNotice is the payload of River's insert notification for
// DeliveryQueue: {"queue": DeliveryQueue} (the name needs no JSON
// escaping).
const deliveryNotice = `{"queue":"` + DeliveryQueue + `"}`

// notifyDeliveries is the SQL expression that sends River's insert
// notification for DeliveryQueue. River (as of v0.51.2) listens on its
// topic river_insert prefixed with the schema of its listening connection
// and a dot; the payload names the queue.
const notifyDeliveries = `pg_notify(current_schema() || '.river_insert', '` + deliveryNotice + `')`

// notifyAvailable is the end of such a statement: given a CTE changed that
// returns the id and the new state of each job the statement changed
// (RETURNING id, state), it selects one row, the ids, and sends the
// notification if any of the jobs is now available. The notification's
// column is there for its side effect only.
const notifyAvailable = `SELECT coalesce(array_agg(id ORDER BY id), '{}'::bigint[]),
		CASE WHEN bool_or(state = 'available') THEN ` + notifyDeliveries + `::text END
	FROM changed`

// changeNotifying runs stmt, a statement that ends with notifyAvailable,
// and returns the ids of the jobs it changed.
func changeNotifying(ctx context.Context, db dbExecutor, stmt string, args ...any) ([]int64, error) {
	var ids []int64
	if err := db.QueryRow(ctx, stmt, args...).Scan(&ids, nil); err != nil {
		return nil, err
	}
	return ids, nil
}

// notifyWorkers sends River's insert notification for the delivery queue
// on its own, in one statement: idle workers of every process fetch.
func notifyWorkers(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, `SELECT `+notifyDeliveries)
	return err
}
