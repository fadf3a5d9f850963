package telemetry_test

import (
	"testing"

	"go.uber.org/goleak"
)

// dbtest's process-wide admin pool lives until exit, so its background
// health check is ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}
