package relay_test

import (
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Trace context crosses the outbox through the global propagator, as in
	// cmd/lokihooks.
	otel.SetTextMapPropagator(propagation.TraceContext{})
	goleak.VerifyTestMain(m,
		// pgx pools and database/sql keep background goroutines until closed
		// by test cleanups that run after the leak check of a failing test.
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	)
}
