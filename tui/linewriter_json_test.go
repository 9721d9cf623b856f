package tui

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// encodingJSON is how writeJSON encodes v: encoding/json, HTML escaping off.
func encodingJSON(t testing.TB, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// messageJSONSeeds are texts that need escaping, and some that do not.
var messageJSONSeeds = []string{
	"", "hi", `"quoted" \back\slash`, "tab\tnew\nline\r\b\f", "\x00\x01\x1f\x7f",
	"<b>&amp;</b>", "é, 日本語, 🎉", "\u2028\u2029", "bad \xff utf-8 \xe2\x82", "\xed\xa0\x80 surrogate",
}

func TestMessageJSON(t *testing.T) {
	if n := reflect.TypeFor[jsonMessage]().NumField(); n != 12 {
		t.Fatalf("jsonMessage has %d fields: appendMessageJSON writes 12, update it", n)
	}
	for i, text := range messageJSONSeeds {
		m := jsonMessage{"message", "2025-03-01T14:03:07.123Z", "lobby " + text, "12D3KooWBob/7", "12D3KooWBob",
			"bob" + text, text, "2025-03-01T14:03:07.000Z", i%2 == 0, i%3 == 0, i%4 == 0, i%5 == 0}
		if got, want := string(appendMessageJSON(nil, m)), encodingJSON(t, m); got != want {
			t.Errorf("appendMessageJSON(%+v)\n = %s\nwant %s", m, got, want)
		}
	}
}

// FuzzMessageJSON checks that any message line is encoding/json's bytes.
func FuzzMessageJSON(f *testing.F) {
	for i, s := range messageJSONSeeds {
		f.Add(s, s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, text, nick string, flags uint8) {
		m := jsonMessage{"message", "2025-03-01T14:03:07.123Z", nick, text, nick, nick, text, "", flags&1 != 0,
			flags&2 != 0, flags&4 != 0, flags&8 != 0}
		if got, want := string(appendMessageJSON(nil, m)), encodingJSON(t, m); got != want {
			t.Errorf("appendMessageJSON(%+v)\n = %q\nwant %q", m, got, want)
		}
	})
}
