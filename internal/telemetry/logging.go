package telemetry

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Log formats.
const (
	LogJSON = "json"
	LogText = "text"
)

// Log attribute keys of the trace context.
const (
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
)

// LogConfig configures NewLogHandler.
type LogConfig struct {
	// Format is LogJSON or LogText (default: text when Terminal, JSON
	// otherwise).
	Format string
	// Level is the lowest level written (default info).
	Level slog.Leveler
	// Terminal says that w is a terminal.
	Terminal bool
}

// NewLogHandler returns the handler of every lokihooks log line: JSON (or
// text) on w, with trace_id and span_id on every line written with a
// context inside a valid span (the …Context methods of slog.Logger).
func NewLogHandler(w io.Writer, cfg LogConfig) slog.Handler {
	opts := &slog.HandlerOptions{Level: cfg.Level}
	format := cfg.Format
	if format == "" {
		format = LogJSON
		if cfg.Terminal {
			format = LogText
		}
	}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if format == LogText {
		h = slog.NewTextHandler(w, opts)
	}
	return TraceHandler{h}
}

// TraceHandler adds trace_id and span_id to records logged with a context
// that carries a valid span context (a recording span, or one extracted
// from a traceparent). It is safe for concurrent use when its Handler is.
type TraceHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h TraceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h TraceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return TraceHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h TraceHandler) WithGroup(name string) slog.Handler {
	return TraceHandler{h.Handler.WithGroup(name)}
}
