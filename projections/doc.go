// Package projections owns lokihooks' read models and their checkpoints.
// Every read model is derived from the event log only, is idempotent and
// version-aware (an event at or below a row's version is skipped), and can
// be thrown away and rebuilt by replaying the log from position zero.
//
// It imports domain only.
package projections
