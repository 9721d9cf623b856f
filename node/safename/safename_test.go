package safename

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

var reduceCases = []struct{ in, want string }{
	{"report.pdf", "report.pdf"},
	{"Résumé final.docx", "Résumé final.docx"},
	{"写真 2024.jpg", "写真 2024.jpg"},
	{"../../etc/passwd", "passwd"},
	{"/etc/shadow", "shadow"},
	{`..\..\Windows\System32\drivers\etc\hosts`, "hosts"},
	{`C:\Users\bob\evil.exe`, "evil.exe"},
	{"dir/", "file"},
	{"..", "file"},
	{".", "file"},
	{"...", "file"},
	{"", "file"},
	{"   ", "file"},
	{".bashrc", "bashrc"},
	{"..hidden", "hidden"},
	{". .profile", "profile"},
	{"trailing. . ", "trailing"},
	{"CON", "_CON"},
	{"con.txt", "_con.txt"},
	{"Nul", "_Nul"},
	{"COM1.tar.gz", "_COM1.tar.gz"},
	{"lpt9", "_lpt9"},
	{"CON .txt", "_CON .txt"},
	{"CONSOLE.txt", "CONSOLE.txt"},
	{"COM10", "COM10"},
	{"a<b>c:d\"e|f?g*h", "a_b_c_d_e_f_g_h"},
	{"evil\u202egpj.exe", "evilgpj.exe"},           // right-to-left override
	{"a\u2066b\u2069c", "abc"},                     // isolates
	{"zero\u200bwidth\u200d.txt", "zerowidth.txt"}, // zero-width space and joiner
	{"\ufeffbom.txt", "bom.txt"},
	{"bell\a\x1b[2Jclear.txt", "bell[2Jclear.txt"},
	{"c1\u009bx", "c1x"},
	{"del\x7f.txt", "del.txt"},
	{"tab\there\nnew  line", "tab here new line"},
	{"nbsp\u00a0\u3000wide", "nbsp wide"},
	{"bad\xffutf8", "bad\ufffdutf8"},
	{"e\u0301", "\u00e9"},       // NFC
	{"e\u200d\u0301", "\u00e9"}, // NFC after dropping the joiner
	{"private\ue000use", "privateuse"},
	{"vs\ufe0f16", "vs16"},
	{strings.Repeat("a", 300) + ".pdf", strings.Repeat("a", MaxBytes-4) + ".pdf"},
	{strings.Repeat("é", 150), strings.Repeat("é", MaxBytes/2)},
	{strings.Repeat("x", 250) + "." + strings.Repeat("y", 40), strings.Repeat("x", 250-50)},
}

func TestReduce(t *testing.T) {
	for _, tt := range reduceCases {
		if got := Reduce(tt.in); got != tt.want {
			t.Errorf("Reduce(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestVariant(t *testing.T) {
	for _, tt := range []struct {
		name string
		n    int
		want string
	}{
		{"report.pdf", 0, "report.pdf"},
		{"report.pdf", 1, "report (1).pdf"},
		{"report.pdf", 12, "report (12).pdf"},
		{"archive.tar.gz", 1, "archive (1).tar.gz"},
		{"Makefile", 2, "Makefile (2)"},
		{"file", 3, "file (3)"},
		{"a.b.c", 1, "a.b (1).c"},
		{strings.Repeat("a", MaxBytes-4) + ".pdf", 1, strings.Repeat("a", MaxBytes-8) + " (1).pdf"},
	} {
		if got := Variant(tt.name, tt.n); got != tt.want {
			t.Errorf("Variant(%q, %d) = %q, want %q", tt.name, tt.n, got, tt.want)
		}
	}
}

// checkReduced fails unless r is a safe reduced name.
func checkReduced(t *testing.T, in, r string) {
	t.Helper()
	switch {
	case r == "":
		t.Fatalf("Reduce(%q) is empty", in)
	case len(r) > MaxBytes:
		t.Fatalf("Reduce(%q) = %q: %d bytes, max %d", in, r, len(r), MaxBytes)
	case !utf8.ValidString(r):
		t.Fatalf("Reduce(%q) = %q: invalid UTF-8", in, r)
	case strings.ContainsAny(r, `/\<>:"|?*`):
		t.Fatalf("Reduce(%q) = %q: a separator or reserved character", in, r)
	case r[0] == '.' || r[0] == ' ' || r[len(r)-1] == '.' || r[len(r)-1] == ' ':
		t.Fatalf("Reduce(%q) = %q: a dot or space at an end", in, r)
	case !filepath.IsLocal(r) || filepath.Base(r) != r:
		t.Fatalf("Reduce(%q) = %q: not a plain local name", in, r)
	case isDevice(r):
		t.Fatalf("Reduce(%q) = %q: a device name", in, r)
	case !norm.NFC.IsNormalString(r):
		t.Fatalf("Reduce(%q) = %q: not NFC", in, r)
	}
	for _, c := range r {
		if c != ' ' && (!unicode.IsGraphic(c) || unicode.IsSpace(c) || unicode.Is(unicode.Cf, c)) {
			t.Fatalf("Reduce(%q) = %q: character %U", in, r, c)
		}
	}
	if again := Reduce(r); again != r {
		t.Fatalf("Reduce(Reduce(%q)) = %q, want %q", in, again, r)
	}
}

func FuzzReduce(f *testing.F) {
	for _, tt := range reduceCases {
		f.Add(tt.in, 1)
	}
	f.Fuzz(func(t *testing.T, in string, n int) {
		r := Reduce(in)
		checkReduced(t, in, r)
		n = n%1000 + 1
		if n < 1 {
			n = -n + 2
		}
		v := Variant(r, n)
		checkReduced(t, r, v)
		if v == r {
			t.Fatalf("Variant(%q, %d) = the name itself", r, n)
		}
	})
}
