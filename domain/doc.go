// Package domain holds lokihooks' aggregates (Webhook, Delivery), their
// commands, events and invariants, the event catalog, retry schedules, error
// categories and the signature scheme.
//
// The package is pure: it performs no I/O, reads no clock (time is passed in)
// and imports nothing but the standard library. Every other package depends on
// it; it depends on none of them.
package domain
