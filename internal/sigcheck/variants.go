package sigcheck

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf16"
)

// variant is the body as some other piece of software would have written
// the same JSON.
type variant struct {
	name string
	body []byte
}

// bodyVariants returns the usual re-encodings of body: trailing newline
// added or removed, and, when body is JSON, the encodings that web
// frameworks and JSON libraries produce when a receiver parses the body and
// serialises it again before verifying. Each variant differs from body and
// from the variants before it.
func bodyVariants(body []byte) []variant {
	var out []variant
	add := func(name string, b []byte) {
		if b == nil || bytes.Equal(b, body) {
			return
		}
		for _, v := range out {
			if bytes.Equal(v.body, b) {
				return
			}
		}
		out = append(out, variant{name: name, body: b})
	}
	if trimmed := bytes.TrimRight(body, "\r\n"); len(trimmed) != len(body) {
		add("the body without its trailing newline", trimmed)
	} else {
		add("the body with a trailing newline", append(slices.Clip(body), '\n'))
	}
	v, ok := decodeOrdered(body)
	if !ok {
		return out
	}
	add("the same JSON as lokihooks encodes it (compact envelope, data as PostgreSQL jsonb text)", encodeLokihooks(v))
	add("the same JSON compacted (whitespace removed, key order kept, as JavaScript's JSON.stringify writes it)",
		encode(v, style{itemSep: ",", keySep: ":"}))
	add("the same JSON as Go's encoding/json writes it (compact, keys sorted, <>& escaped)", goMarshal(body))
	add("the same JSON with keys sorted (compact)", encode(v, style{itemSep: ",", keySep: ":", order: orderSorted}))
	add(`the same JSON as Python's json.dumps writes it (", " and ": " separators, non-ASCII escaped)`,
		encode(v, style{itemSep: ", ", keySep: ": ", asciiOnly: true}))
	add("the same JSON indented by 2 spaces", encode(v, style{itemSep: ",", keySep: ": ", indent: "  "}))
	add("the same JSON indented by 4 spaces", encode(v, style{itemSep: ",", keySep: ": ", indent: "    "}))
	return out
}

// member is one key of a JSON object, in document order.
type member struct {
	key   string
	value any
}

// object is a JSON object that keeps its key order.
type object []member

// decodeOrdered decodes one JSON value, keeping object key order and number
// text.
func decodeOrdered(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return v, true
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, isDelim := tok.(json.Delim)
	if !isDelim {
		return tok, nil
	}
	switch d {
	case '{':
		obj := object{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, ok := kt.(string)
			if !ok {
				return nil, fmt.Errorf("object key is %T", kt)
			}
			val, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			obj = append(obj, member{key: key, value: val})
		}
		_, err = dec.Token() // '}'
		return obj, err
	case '[':
		arr := []any{}
		for dec.More() {
			val, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, val)
		}
		_, err = dec.Token() // ']'
		return arr, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

// keyOrder is how an encoder orders object keys.
type keyOrder int

const (
	orderKept   keyOrder = iota
	orderSorted          // bytewise
	orderJSONB           // PostgreSQL jsonb: shorter keys first, then bytewise
)

// style is one way of writing JSON text.
type style struct {
	itemSep, keySep string
	indent          string // non-empty: one item per line
	order           keyOrder
	asciiOnly       bool // escape everything above U+007F (Python's ensure_ascii)
}

// jsonbStyle is how PostgreSQL prints a jsonb value.
var jsonbStyle = style{itemSep: ", ", keySep: ": ", order: orderJSONB}

// envelopeOrder is the key order of the envelope lokihooks_publish builds.
var envelopeOrder = []string{"id", "type", "timestamp", "data"}

// encodeLokihooks writes an envelope as lokihooks_publish builds it: the
// envelope compact, in its fixed key order, and its data as jsonb text,
// whose key order follows from the keys. So any re-encoding of a lokihooks
// body, whatever its key order or whitespace, maps back to the original.
func encodeLokihooks(v any) []byte {
	obj, ok := v.(object)
	if !ok {
		return nil
	}
	obj = slices.Clone(obj)
	rank := func(key string) int {
		if i := slices.Index(envelopeOrder, key); i >= 0 {
			return i
		}
		return len(envelopeOrder) // unknown keys keep their place, after
	}
	slices.SortStableFunc(obj, func(a, b member) int { return cmp.Compare(rank(a.key), rank(b.key)) })
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range obj {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(&b, m.key, style{})
		b.WriteByte(':')
		st := style{itemSep: ",", keySep: ":"}
		if m.key == "data" {
			st = jsonbStyle
		}
		writeValue(&b, m.value, st, 0)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func encode(v any, st style) []byte {
	var b bytes.Buffer
	writeValue(&b, v, st, 0)
	return b.Bytes()
}

func writeValue(b *bytes.Buffer, v any, st style, depth int) {
	switch v := v.(type) {
	case object:
		if len(v) == 0 {
			b.WriteString("{}")
			return
		}
		members := sortMembers(v, st.order)
		b.WriteByte('{')
		for i, m := range members {
			if i > 0 {
				b.WriteString(st.itemSep)
			}
			newline(b, st, depth+1)
			writeString(b, m.key, st)
			b.WriteString(st.keySep)
			writeValue(b, m.value, st, depth+1)
		}
		newline(b, st, depth)
		b.WriteByte('}')
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				b.WriteString(st.itemSep)
			}
			newline(b, st, depth+1)
			writeValue(b, item, st, depth+1)
		}
		newline(b, st, depth)
		b.WriteByte(']')
	case string:
		writeString(b, v, st)
	case json.Number:
		b.WriteString(v.String())
	case bool:
		fmt.Fprint(b, v)
	case nil:
		b.WriteString("null")
	}
}

func newline(b *bytes.Buffer, st style, depth int) {
	if st.indent == "" {
		return
	}
	b.WriteByte('\n')
	b.WriteString(strings.Repeat(st.indent, depth))
}

func sortMembers(obj object, order keyOrder) object {
	if order == orderKept {
		return obj
	}
	out := slices.Clone(obj)
	slices.SortStableFunc(out, func(a, b member) int {
		if order == orderJSONB {
			if c := cmp.Compare(len(a.key), len(b.key)); c != 0 {
				return c
			}
		}
		return strings.Compare(a.key, b.key)
	})
	return out
}

// writeString quotes s with the escapes JavaScript, Python and PostgreSQL
// share; asciiOnly adds Python's \uXXXX for everything above U+007F.
func writeString(b *bytes.Buffer, s string, st style) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20:
				fmt.Fprintf(b, `\u%04x`, r)
			case st.asciiOnly && r > 0x7f && r > 0xffff:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
			case st.asciiOnly && r > 0x7f:
				fmt.Fprintf(b, `\u%04x`, r)
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// goMarshal re-encodes body as a Go receiver that decodes into any and
// marshals again would.
func goMarshal(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return out
}
