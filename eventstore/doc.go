// Package eventstore owns the append-only event log: appending to a stream
// with an expected version (optimistic concurrency), loading a stream,
// reading the global log in order without ever skipping a transaction that
// commits late, and the outbox writer LOKI services call inside their own
// transactions.
//
// It imports domain only. PostgreSQL errors are translated here into domain
// sentinels; no pgconn error leaks past this package.
package eventstore
