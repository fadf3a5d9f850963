// Package relay moves events from the outbox to receivers.
//
// Fan-out: a watermill router with the consumer group "fanout" reads the
// outbox topic (watermill-sql v3) and, on the subscriber's own transaction,
// matches the subscribed webhooks, appends delivery.scheduled events and
// inserts one River job per delivery. It does database work only: no HTTP
// ever runs inside a watermill handler (DESIGN §3.2).
//
// Delivery: River workers send each delivery through a Sender, decide the
// outcome with the webhook's retry policy (domain.DecideAttempt), and append
// the attempt event, complete the job and schedule the next one in one
// transaction. Rate limits snooze jobs; paused webhooks keep their
// deliveries pending.
//
// Destinations are webhooks and integrations alike; only the Sender (a
// connectors.Mux) tells them apart. A destination that batches (Zapier with
// config batch_size) parks its deliveries for a flush job that sends them
// together (batch.go). SlackThreads keeps the Slack connector's threads in
// PostgreSQL.
//
// Resilience: worker processes keep a heartbeat under a stable worker id,
// so that the jobs of one that died run again within seconds
// (heartbeat.go); each destination has a circuit breaker that parks its
// deliveries while its receiver fails, probes it after a cool-down and
// deactivates it after a long run of failures (breaker.go).
//
// It imports domain only; storage and the sender come in through the
// interfaces in deps.go.
package relay
