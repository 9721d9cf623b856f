package chat

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"github.com/rivo/uniseg"
	"golang.org/x/text/unicode/norm"
)

// nickCases are the table of TestValidNick; want is nil for a valid nick.
var nickCases = []struct {
	name string
	nick string
	want error
}{
	{"ascii", "alice", nil},
	{"kana", "ゆき", nil},
	{"nfc", "Zoë", nil},
	{"spaces", "bob the builder", nil},
	{"longest", strings.Repeat("n", MaxNickRunes), nil},
	{"mark after a base", "x\u0301", nil},
	{"star", "*star*", nil},
	{"cyrillic", "bоb", nil}, // valid: front ends tell it from "bob" by Skeleton
	{"zwj sequence", "👩\u200d💻", nil},
	{"zwj after modifier", "👩🏽\u200d💻", nil},
	{"zwj after vs16", "🏳\ufe0f\u200d🌈", nil},
	{"zwj then vs16", "🏳\ufe0f\u200d⚧\ufe0f", nil},
	{"two joiners", "🧑\u200d🤝\u200d🧑", nil},
	{"keycap", "1\ufe0f\u20e3", nil},
	{"emoji in a name", "ann 👩\u200d💻", nil},

	{"empty", "", ErrInvalidNick},
	{"only spaces", "   ", ErrInvalidNick},
	{"leading space", " alice", ErrInvalidNick},
	{"trailing space", "alice ", ErrInvalidNick},
	{"control", "al\x07ice", ErrInvalidNick},
	{"bidi override", "al\u202eice", ErrInvalidNick},
	{"zero-width space", "a\u200bb", ErrInvalidNick},
	{"only a joiner", "\u200d", ErrInvalidNick},
	{"too long", strings.Repeat("n", MaxNickRunes+1), ErrInvalidNick},
	{"bad utf8", "\xff", ErrBadUTF8},

	{"zwj between letters", "b\u200dob", ErrInvalidNick},
	{"zwj first", "\u200dbob", ErrInvalidNick},
	{"zwj last", "bob\u200d", ErrInvalidNick},
	{"zwj after emoji, last", "👩\u200d", ErrInvalidNick},
	{"zwj first, before emoji", "\u200d💻", ErrInvalidNick},
	{"zwj from emoji to letter", "👩\u200db", ErrInvalidNick},
	{"zwj from letter to emoji", "a\u200d💻", ErrInvalidNick},
	{"double zwj", "👩\u200d\u200d💻", ErrInvalidNick},
	{"zwj after space", "👩 \u200d💻", ErrInvalidNick},

	{"not nfc", "Zoe\u0308", ErrInvalidNick},
	{"mark first", "\u0301bob", ErrInvalidNick},
	{"vs16 after a letter", "b\ufe0fob", ErrInvalidNick},
	{"vs16 first", "\ufe0fbob", ErrInvalidNick},
	{"other variation selector", "a\ufe01", ErrInvalidNick},
	{"grapheme joiner", "a\u034fb", ErrInvalidNick},
	{"hangul filler", "bob\u3164", ErrInvalidNick},
	{"only a hangul filler", "\u3164", ErrInvalidNick},
	{"braille blank", "bob\u2800", ErrInvalidNick},

	{"angle brackets", "<alice>", ErrInvalidNick},
	{"forged line", "alice> hi <bob", ErrInvalidNick},
	{"less than", "a<b", ErrInvalidNick},
	{"label", "bob#3f2a", ErrInvalidNick},
	{"guillemets", "‹bob›", ErrInvalidNick},
	{"fullwidth", "＜bob＞", ErrInvalidNick},
	{"fullwidth hash", "bob＃3f2a", ErrInvalidNick},
	{"canadian syllabics", "ᐸbobᐳ", ErrInvalidNick},
	{"not less than", "≮", ErrInvalidNick},
}

func TestValidNick(t *testing.T) {
	for _, tt := range nickCases {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidNick(tt.nick); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("ValidNick(%+q) = %v, want %v", tt.nick, err, tt.want)
			}
		})
	}
}

// TestValidWireNick: what earlier versions allowed still decodes.
func TestValidWireNick(t *testing.T) {
	for _, nick := range []string{"alice", "b\u200dob", "<alice>", "bob#3f2a", "Zoe\u0308", "\u0301bob", "bob\u3164", "👩\u200d💻"} {
		if err := ValidWireNick(nick); err != nil {
			t.Errorf("ValidWireNick(%+q) = %v, want nil", nick, err)
		}
	}
	for _, nick := range []string{"", " alice", "al\x07ice", "al\u202eice", "\u200d", "\xff", strings.Repeat("n", MaxNickRunes+1)} {
		if err := ValidWireNick(nick); !errors.Is(err, ErrInvalidNick) {
			t.Errorf("ValidWireNick(%+q) = %v, want %v", nick, err, ErrInvalidNick)
		}
	}
}

func TestNormalizeNick(t *testing.T) {
	for _, tt := range []struct{ typed, want string }{
		{"alice", "alice"},
		{"  alice\t", "alice"},
		{"Zoe\u0308", "Zoë"},
		{"b\u200dob", "b\u200dob"}, // still invalid: normalising is not sanitising
	} {
		if got := NormalizeNick(tt.typed); got != tt.want {
			t.Errorf("NormalizeNick(%+q) = %+q, want %+q", tt.typed, got, tt.want)
		}
	}
}

func TestSanitizeNick(t *testing.T) {
	for _, tt := range []struct{ nick, want string }{
		{"alice", "alice"},
		{"👩\u200d💻", "👩\u200d💻"},
		{"b\u200dob", "bob"},
		{"\u200dbob\u200d", "bob"},
		{"👩\u200db", "👩b"},
		{"<alice>", "\ufffdalice\ufffd"},
		{"bob#3f2a", "bob\ufffd3f2a"},
		{"‹bob›", "\ufffdbob\ufffd"},
		{"Zoe\u0308", "Zoë"},
		{"\u0301bob", "bob"},
		{" \u0301bob", "bob"},
		{"b\ufe0fob", "bob"},
		{"bob\u3164", "bob"},
		{"\u3164", "\ufffd"},
		{"  a\tb  ", "a b"},
		{"al\u202eice", "alice"},
		{"\xffbob", "\ufffdbob"},
		{"", "\ufffd"},
		{strings.Repeat("n", MaxNickRunes+5), strings.Repeat("n", MaxNickRunes)},
		// The cut falls on the joiner: it goes too.
		{strings.Repeat("n", MaxNickRunes-1) + "👩\u200d💻", strings.Repeat("n", MaxNickRunes-1) + "👩"},
		{strings.Repeat("n", MaxNickRunes-1) + " x", strings.Repeat("n", MaxNickRunes-1)},
	} {
		got := SanitizeNick(tt.nick)
		if got != tt.want {
			t.Errorf("SanitizeNick(%+q) = %+q, want %+q", tt.nick, got, tt.want)
		}
		if err := ValidNick(got); err != nil {
			t.Errorf("ValidNick(SanitizeNick(%+q)) = %v", tt.nick, err)
		}
	}
}

// FuzzSanitizeNick: any input sanitises to a valid nick, a valid nick to
// itself, and sanitising twice changes nothing more.
func FuzzSanitizeNick(f *testing.F) {
	for _, tt := range nickCases {
		f.Add(tt.nick)
	}
	f.Fuzz(func(t *testing.T, nick string) {
		got := SanitizeNick(nick)
		if err := ValidNick(got); err != nil {
			t.Fatalf("ValidNick(SanitizeNick(%+q) = %+q) = %v", nick, got, err)
		}
		if ValidNick(nick) == nil && got != nick {
			t.Fatalf("SanitizeNick(%+q) = %+q, want it unchanged", nick, got)
		}
		if again := SanitizeNick(got); again != got {
			t.Fatalf("SanitizeNick(%+q) = %+q, not idempotent", got, again)
		}
	})
}

func TestSkeleton(t *testing.T) {
	same := [][]string{
		{"bob", "Bob", "BOB", "b\u200dob", "bоb", "ｂｏｂ", "b\ufe0fob", "bob\u3164"},
		{"alice", "Alice", "аlice", "ALICE"},
		{"paypal", "𝔭𝒶ỿ𝕡𝕒ℓ"},
		{"Zoë", "Zoe\u0308", "zoë"},
		{"👩\u200d💻", "👩💻"}, // look different, but a shared suffix costs little
	}
	for _, group := range same {
		want := Skeleton(group[0])
		for _, nick := range group[1:] {
			if got := Skeleton(nick); got != want {
				t.Errorf("Skeleton(%+q) = %+q, want %+q as for %+q", nick, got, want, group[0])
			}
		}
	}
	for _, pair := range [][2]string{{"bob", "rob"}, {"alice", "alicia"}, {"bob", "bo b"}, {"👩", "💻"}, {"ゆき", "ゆこ"}} {
		if Skeleton(pair[0]) == Skeleton(pair[1]) {
			t.Errorf("Skeleton(%+q) = Skeleton(%+q) = %+q, want them to differ", pair[0], pair[1], Skeleton(pair[0]))
		}
	}
}

// TestLayoutLookalikes derives the characters that look like "<", ">" or
// "#" from the confusables data and compares them with layoutLookalikes.
func TestLayoutLookalikes(t *testing.T) {
	for r := rune(utf8.RuneSelf); r <= unicode.MaxRune; r++ {
		if !unicode.IsGraphic(r) {
			continue // not allowed in a nick anyway
		}
		want := strings.ContainsAny(confusables.Skeleton(norm.NFKD.String(string(r))), layoutChars)
		if got := unicode.Is(layoutLookalikes, r); got != want {
			t.Errorf("%U %q: in layoutLookalikes = %v, want %v", r, r, got, want)
		}
	}
}

// TestExtendedPictographic checks the table against grapheme breaking: a
// zero-width joiner after an emoji joins the next character into one
// cluster exactly when it is Extended_Pictographic (rule GB11), unless it
// joins anything (marks, joiners).
func TestExtendedPictographic(t *testing.T) {
	oneCluster := func(s string) bool {
		c, _, _, _ := uniseg.FirstGraphemeClusterInString(s, -1)
		return len(c) == len(s)
	}
	for r := rune(0); r <= 0x1ffff; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		if oneCluster("a" + string(r)) {
			if isEmoji(r) {
				t.Errorf("%U: joins a letter, yet isEmoji", r)
			}
			continue
		}
		if want := oneCluster("👩\u200d" + string(r)); isEmoji(r) != want {
			t.Errorf("isEmoji(%U) = %v, want %v", r, isEmoji(r), want)
		}
	}
}
