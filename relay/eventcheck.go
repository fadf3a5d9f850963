package relay

import (
	"context"
	"database/sql"

	"github.com/loki-interceptor/lokihooks/domain"
)

// EventChecker inspects a group of outbox events on the fan-out's
// transaction before their deliveries are scheduled (*app.SchemaCheck
// checks their data against the catalog and records violations). It is
// called once per group, and again for each event alone when the group's
// scheduling fails, so it must be idempotent. A problem with an event's
// content is recorded, not returned: the event is delivered anyway. An
// error fails the group like any scheduling error (each event is then tried
// alone, and one that still fails goes to the poison table), so return one
// only when reading or writing on tx failed.
type EventChecker interface {
	CheckEventsSQLTx(ctx context.Context, tx *sql.Tx, events []domain.EventRef) error
}

// checkEvents runs Deps.EventChecker, when there is one, on a group.
func (f *Fanout) checkEvents(ctx context.Context, tx *sql.Tx, events []domain.EventRef) error {
	if f.deps.EventChecker == nil {
		return nil
	}
	return f.deps.EventChecker.CheckEventsSQLTx(ctx, tx, events)
}
