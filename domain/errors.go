package domain

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors callers branch on. Adapters (eventstore, httpapi) map them
// to storage and HTTP outcomes.
var (
	// ErrNotFound reports that a stream, webhook or delivery does not exist.
	ErrNotFound = errors.New("not found")
	// ErrVersionConflict reports that a stream changed since it was read.
	ErrVersionConflict = errors.New("version conflict")
	// ErrInvalid reports a command that breaks an invariant; it wraps
	// *ValidationError when field details are known.
	ErrInvalid = errors.New("invalid")
	// ErrConflict reports a uniqueness clash (name or url already in use,
	// duplicate event id with different content).
	ErrConflict = errors.New("conflict")
	// ErrStateTransition reports a command the aggregate's state forbids,
	// such as redriving a delivery that was delivered.
	ErrStateTransition = errors.New("invalid state transition")
	// ErrUnknownEventType reports an event type outside the catalog.
	ErrUnknownEventType = errors.New("unknown event type")
	// ErrIdempotencyKeyReused reports an Idempotency-Key sent again with a
	// different request. (A reused event id is ErrConflict.)
	ErrIdempotencyKeyReused = errors.New("idempotency key reused with a different request")
	// ErrBusy reports a resource changed so often by concurrent writers
	// that a command gave up retrying; the caller may try again.
	ErrBusy = errors.New("changed concurrently; try again")
)

// ConflictError is returned on an optimistic-concurrency clash. It matches
// ErrVersionConflict with errors.Is.
type ConflictError struct {
	StreamID string
	Expected int64
	Actual   int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("stream %s: expected version %d, actual %d", e.StreamID, e.Expected, e.Actual)
}

// Is reports whether target is ErrVersionConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrVersionConflict }

// FieldError names one invalid field and why.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	// Pointer is the RFC 6901 JSON pointer of the invalid value inside the
	// document that was checked (event data), such as "/changes/0/after";
	// "" for the document itself and for fields that are not inside one.
	Pointer string `json:"pointer,omitempty"`
}

// ValidationError lists every invalid field of a command at once. It matches
// ErrInvalid with errors.Is.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid: " + strings.Join(parts, "; ")
}

// Is reports whether target is ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// add records a field problem.
func (e *ValidationError) add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// merge adds the fields of a *ValidationError, or err's text under field.
func (e *ValidationError) merge(err error, field string) {
	var ve *ValidationError
	if errors.As(err, &ve) {
		e.Fields = append(e.Fields, ve.Fields...)
		return
	}
	e.add(field, "%s", err.Error())
}

// err returns e when it holds problems and nil otherwise.
func (e *ValidationError) err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}
