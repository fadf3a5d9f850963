// Package telemetry owns lokihooks' operational signals: the metric
// instruments the relay reports to (Metrics, a relay.Observer), the
// database-wide gauges one leader process gathers (Gauges, Leader), the
// read-only status summary behind them, /readyz and `lokihooks status`
// (ReadStatus), and the log handler that stamps trace ids on every line
// written inside a span (NewLogHandler).
//
// It reads, never writes, the tables other packages own, and imports
// nothing of this module but domain. cmd/lokihooks wires the providers
// and exporters.
package telemetry
