// Package domain holds lokihooks' aggregates (Webhook, Delivery), their
// commands, events and invariants, the event catalog, retry schedules, error
// categories and the signature scheme.
//
// The package is pure: it performs no I/O, reads no clock (time is passed in)
// and imports nothing but the standard library and one JSON Schema validator
// (github.com/santhosh-tekuri/jsonschema/v6, pure computation, which checks
// event data against the catalog schemas embedded from schemas/). Every other package depends on
// it; it depends on none of them.
package domain
