package tui

import "testing"

func TestSanitize(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ascii", "hello, world", "hello, world"},
		{"japanese", "こんにちは、世界", "こんにちは、世界"},
		{"emoji", "👍🏽 ok 🇯🇵", "👍🏽 ok 🇯🇵"},
		{"combining", "e\u0301te\u0301", "e\u0301te\u0301"},
		{"clear screen", "a\x1b[2Jb", "ab"},
		{"cursor move", "\x1b[10;10Hx", "x"},
		{"title", "\x1b]0;pwned\x07hi", "hi"},
		{"hyperlink", "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\", "click"},
		{"bell and backspace", "a\x07\x08b", "ab"},
		{"c1 csi", "a\u009b2Jb", "a2Jb"},
		{"newline tab", "a\nb\tc\r", "a b c "},
		{"bidi override", "abc\u202edef\u2066g", "abcdefg"},
		{"invalid utf8", "a\xffb", "a\uFFFDb"},
		{"del", "a\x7fb", "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sanitize(tt.in); got != tt.want {
				t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"hi", "\x1b[2J", "\x1b]0;t\x07", "日本語", "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Sanitize(s)
		if !isPlain(out) {
			t.Fatalf("Sanitize(%q) = %q still has control characters", s, out)
		}
		if Sanitize(out) != out {
			t.Fatalf("Sanitize not idempotent on %q", s)
		}
	})
}
