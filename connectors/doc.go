// Package connectors owns lokihooks' outbound senders — the signed HTTP
// webhook sender (Webhook) and the integration connectors Slack, Teams,
// Email and Zapier — the Mux that picks one by destination kind, the
// registry of integration kinds with their JSON Schemas (Kinds,
// ValidateIntegration), and the SSRF-guarded HTTP client and SMTP dialer
// they all go through.
//
// A sender makes one attempt and reports what happened as a value
// (domain.AttemptResult): status, bounded response, timing, an error
// category and a Detail, and whether the failure is Permanent. Every
// attempt is bounded by its request's Timeout, from dial to the end of the
// response, and ends promptly when its context is cancelled. A failure
// without a response has a Detail that starts with one of the
// domain.NetworkDetail… code words, then ": " and a short explanation
// ("connect: connection refused", "blocked: destination 10.0.0.1 is not
// allowed (see LOKIHOOKS_ALLOWED_NETWORKS)"). No credential, URL path or
// query ever appears in a result or an error.
//
// Senders know nothing of queues, outboxes, retries or backoff; the relay
// decides what to do with a result (domain.DecideAttempt). The package
// imports only domain from this module, and no sibling package. Its
// conformance suite is connectortest.Run.
package connectors
