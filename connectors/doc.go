// Package connectors owns lokihooks' outbound senders (the signed HTTP
// webhook sender today; Slack, Teams, email and Zapier later) and the
// SSRF-guarded HTTP client they share.
//
// A sender makes one attempt and reports what happened as a value: status,
// bounded response, timing and an error category. It knows nothing of
// queues, outboxes, retries or backoff; the relay decides what to do with a
// result. The package imports only domain (value types, signing and error
// categories) from this module, and no sibling package.
package connectors
