package httpapi

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/loki-interceptor/lokihooks/domain"
)

// FuzzCursors decodes arbitrary cursors with each list's decoder: an
// error that is errNotCursor, or a position the API could have written,
// never a panic; and every cursor the API writes decodes to its position.
func FuzzCursors(f *testing.F) {
	for _, c := range []string{
		encodeCursor("wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"), encodeCursor("42"),
		encodeDeliveryCursor(time.Date(2026, 11, 29, 10, 0, 0, 123456000, time.UTC), "dlv_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"),
		"", "!!", "AA==", encodeCursor("\x00"), encodeCursor("\xff"), encodeCursor("2026-11-29T10:00:00Z|wh_1"),
		encodeCursor("-1"), encodeCursor("99999999999999999999"),
	} {
		f.Add(c, "wh_")
	}
	f.Fuzz(func(t *testing.T, c, prefix string) {
		if s, err := decodeCursor(c, prefix); err != nil {
			if !errors.Is(err, errNotCursor) {
				t.Fatalf("decodeCursor: %v", err)
			}
		} else if !strings.HasPrefix(s, prefix) || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			t.Fatalf("decodeCursor(%q, %q) = %q", c, prefix, s)
		}
		if d, err := decodeDeliveryCursor(c); err == nil {
			if !strings.HasPrefix(string(d.ID), domain.DeliveryIDPrefix) {
				t.Fatalf("delivery cursor %q names %q", c, d.ID)
			}
		} else if !errors.Is(err, errNotCursor) {
			t.Fatalf("decodeDeliveryCursor: %v", err)
		}
		if seq, err := decodeSeqCursor(c); err == nil && seq < 0 || err != nil && !errors.Is(err, errNotCursor) {
			t.Fatalf("decodeSeqCursor(%q) = %d, %v", c, seq, err)
		}

		// What the API writes reads back.
		if !storable(prefix) || !storable(c) {
			return
		}
		if s, err := decodeCursor(encodeCursor(prefix+c), prefix); err != nil || s != prefix+c {
			t.Fatalf("cursor of %q reads back as %q, %v", prefix+c, s, err)
		}
		at := time.Unix(int64(len(c))*1_000_003, int64(len(prefix))*1001).UTC()
		id := domain.DeliveryID(domain.DeliveryIDPrefix + strings.ReplaceAll(c, "|", ""))
		if d, err := decodeDeliveryCursor(encodeDeliveryCursor(at, id)); err != nil || !d.CreatedAt.Equal(at) || d.ID != id {
			t.Fatalf("delivery cursor of (%s, %s) reads back as %+v, %v", at, id, d, err)
		}
		seq := int64(len(c)) * 7919
		if got, err := decodeSeqCursor(encodeCursor(strconv.FormatInt(seq, 10))); err != nil || got != seq {
			t.Fatalf("sequence cursor of %d reads back as %d, %v", seq, got, err)
		}
	})
}
