package chat

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Nicks come in three strengths:
//
//   - [ValidNick] is the nick a node may take. Front ends pass what the
//     user typed through [NormalizeNick] first.
//   - [ValidWireNick] is the looser rule of earlier versions. The wire
//     codec accepts any nick it allows, so that the envelopes of older
//     peers, and lines already in logs and served by history sync, still
//     decode (a line that does not decode marks its server as a forger).
//   - [SanitizeNick] turns a nick of the wire into one [ValidNick]
//     accepts; the node applies it to every nick it reports in an [Event]
//     or a [Member], so front ends only ever see valid nicks.
//
// Nicks are not unique. Front ends tell members apart whose nicks look
// alike, by [Skeleton], with a peer-ID suffix ("alice#3f2a").

// Characters of nicks that ValidNick treats specially.
const (
	zwj  = '\u200d' // zero-width joiner
	vs15 = '\ufe0e' // variation selector-15: text presentation
	vs16 = '\ufe0f' // variation selector-16: emoji presentation
	// brailleBlank is a graphic character that draws nothing.
	brailleBlank = '\u2800'
)

// layoutChars are the characters front ends lay lines out with: plain
// lines read "<alice> hi" and labels "alice#3f2a". A nick holding one
// could forge another line's layout or another member's label.
const layoutChars = "<>#"

// layoutLookalikes are the characters other than [layoutChars] whose
// skeleton ([Skeleton] without case folding) holds one of them: ‹ looks
// like <, ＃ like #. TestLayoutLookalikes derives the list afresh from
// the confusables data.
var layoutLookalikes = &unicode.RangeTable{
	R16: []unicode.Range16{
		{0x02c2, 0x02c3, 1}, // ˂ ˃
		{0x1433, 0x1433, 1}, // ᐳ
		{0x1437, 0x1438, 1}, // ᐷ ᐸ
		{0x1440, 0x1441, 1}, // ᑀ ᑁ
		{0x1444, 0x1445, 1}, // ᑄ ᑅ
		{0x150c, 0x150c, 1}, // ᔌ
		{0x16b2, 0x16b2, 1}, // ᚲ
		{0x2039, 0x203a, 1}, // ‹ ›
		{0x226a, 0x226b, 1}, // ≪ ≫
		{0x226e, 0x226f, 1}, // ≮ ≯
		{0x22d6, 0x22d9, 1}, // ⋖ ⋗ ⋘ ⋙
		{0x276e, 0x276f, 1}, // ❮ ❯
		{0x2a20, 0x2a20, 1}, // ⨠
		{0x2aa5, 0x2aa5, 1}, // ⪥
		{0x2cb4, 0x2cb4, 1}, // Ⲵ
		{0xfe5f, 0xfe5f, 1}, // ﹟
		{0xfe64, 0xfe65, 1}, // ﹤ ﹥
		{0xff03, 0xff03, 1}, // ＃
		{0xff1c, 0xff1c, 1}, // ＜
		{0xff1e, 0xff1e, 1}, // ＞
	},
	R32: []unicode.Range32{
		{0x16f3f, 0x16f3f, 1}, // 𖼿
		{0x1d236, 0x1d237, 1}, // 𝈶 𝈷
	},
}

// ValidNick checks a nick a node may take:
//
//   - 1..[MaxNickRunes] runes of valid UTF-8, in Unicode normal form NFC
//     ([NormalizeNick] puts a typed nick in it);
//   - printable characters and spaces (U+0020) only, something visible,
//     no leading or trailing space, no combining mark first: no control
//     or format characters (bidi overrides, zero-width spaces), no
//     invisible fillers (U+3164, U+2800, …) or other default-ignorable
//     characters;
//   - a zero-width joiner (U+200D) only between two emoji, as in 👩‍💻
//     (the first may carry a skin-tone modifier or U+FE0F), and the
//     variation selectors U+FE0E and U+FE0F only after an emoji or a
//     keycap's digit or "*";
//   - none of "<", ">" and "#", nor a character that looks like one (‹,
//     ＜, ＃, …): plain lines read "<alice> hi", and labels "alice#3f2a".
//
// "*" is allowed: plain actions and notices start with "* ", but a nick
// never starts a line.
func ValidNick(nick string) error {
	if err := ValidWireNick(nick); err != nil {
		return err
	}
	if !norm.NFC.IsNormalString(nick) {
		return fmt.Errorf("%w: not in Unicode normal form NFC", ErrInvalidNick)
	}
	var buf [MaxNickRunes]rune
	runes := buf[:0]
	for _, r := range nick {
		runes = append(runes, r)
	}
	for i, r := range runes {
		switch {
		case r < utf8.RuneSelf:
			if strings.ContainsRune(layoutChars, r) {
				return fmt.Errorf("%w: %q is not allowed", ErrInvalidNick, r)
			}
		case r == zwj:
			if !joinsEmoji(runes[:i], runes[i+1:]) {
				return fmt.Errorf("%w: a zero-width joiner only goes between two emoji", ErrInvalidNick)
			}
		case r == vs15 || r == vs16:
			if i == 0 || !presentable(runes[i-1]) {
				return fmt.Errorf("%w: variation selector %U only goes after an emoji", ErrInvalidNick, r)
			}
		case invisible(r):
			return fmt.Errorf("%w: invisible character %U not allowed", ErrInvalidNick, r)
		case unicode.Is(layoutLookalikes, r):
			return fmt.Errorf("%w: %q looks like one of %q", ErrInvalidNick, r, layoutChars)
		case i == 0 && isMark(r):
			return fmt.Errorf("%w: starts with combining mark %U", ErrInvalidNick, r)
		}
	}
	return nil
}

// ValidWireNick checks a nick received from a peer, by the looser rule of
// earlier versions: 1..[MaxNickRunes] runes of valid UTF-8, printable
// characters and spaces only (no controls, no bidi overrides or other
// format characters except the zero-width joiner), something visible, no
// leading or trailing space. The wire codec accepts what it allows; the
// node shows such a nick as [SanitizeNick] makes it.
func ValidWireNick(nick string) error {
	if nick == "" {
		return fmt.Errorf("%w: empty", ErrInvalidNick)
	}
	if !utf8.ValidString(nick) {
		return fmt.Errorf("%w: %w", ErrInvalidNick, ErrBadUTF8)
	}
	if n := utf8.RuneCountInString(nick); n > MaxNickRunes {
		return fmt.Errorf("%w: %d characters, max %d", ErrInvalidNick, n, MaxNickRunes)
	}
	visible := false
	for _, r := range nick {
		switch {
		case r == ' ' || r == zwj || isMark(r):
		case unicode.IsGraphic(r) && !unicode.IsSpace(r):
			visible = true
		default:
			return fmt.Errorf("%w: character %U not allowed", ErrInvalidNick, r)
		}
	}
	if !visible {
		return fmt.Errorf("%w: nothing visible", ErrInvalidNick)
	}
	if nick[0] == ' ' || nick[len(nick)-1] == ' ' {
		return fmt.Errorf("%w: leading or trailing space", ErrInvalidNick)
	}
	return nil
}

// NormalizeNick returns a nick as the user typed it in the form
// [ValidNick] wants: without surrounding white space, in Unicode normal
// form NFC (a keyboard may send "e" and a combining accent for "é").
func NormalizeNick(typed string) string {
	return norm.NFC.String(strings.TrimSpace(typed))
}

// SanitizeNick returns nick, a nick from the network, as one that
// [ValidNick] accepts: nick itself when it is valid. Otherwise it is put
// in NFC; characters of the layout ("<", ">", "#" and their look-alikes)
// and invalid UTF-8 become U+FFFD; invisible, control and format
// characters are dropped, and so are a zero-width joiner or variation
// selector out of an emoji sequence, a combining mark first and spaces
// at the ends; other white space becomes a space; the rest is cut to
// [MaxNickRunes]. What has nothing visible left is "\uFFFD".
func SanitizeNick(nick string) string {
	for range 3 { // one pass suffices but for rare NFC effects; each pass is checked
		if ValidNick(nick) == nil {
			return nick
		}
		nick = sanitizeOnce(nick)
	}
	if ValidNick(nick) == nil {
		return nick
	}
	return "\uFFFD"
}

// sanitizeOnce is one pass of SanitizeNick.
func sanitizeOnce(nick string) string {
	in := []rune(norm.NFC.String(strings.ToValidUTF8(nick, "\uFFFD")))
	out := make([]rune, 0, min(len(in), MaxNickRunes+1))
	for i, r := range in {
		switch {
		case r == zwj:
			if !joinsEmoji(out, in[i+1:]) {
				continue
			}
		case r == vs15 || r == vs16:
			if len(out) == 0 || !presentable(out[len(out)-1]) {
				continue
			}
		case r < utf8.RuneSelf && strings.ContainsRune(layoutChars, r), unicode.Is(layoutLookalikes, r):
			r = utf8.RuneError
		case unicode.IsSpace(r):
			if len(out) == 0 {
				continue
			}
			r = ' '
		case invisible(r) || !unicode.IsGraphic(r):
			continue
		case isMark(r) && len(out) == 0:
			continue
		}
		out = append(out, r)
	}
	out = out[:min(len(out), MaxNickRunes)]
	// Cut, a joiner may have lost its second emoji.
	for len(out) > 0 && (out[len(out)-1] == ' ' || out[len(out)-1] == zwj) {
		out = out[:len(out)-1]
	}
	s := norm.NFC.String(string(out))
	if ValidWireNick(s) != nil {
		return "\uFFFD"
	}
	return s
}

// Skeleton returns the form of nick that look-alike nicks share, to tell
// whether two nicks could be taken for each other: the skeleton of
// Unicode's UTS #39 (its confusables data, by github.com/mtibben/confusables),
// after compatibility decomposition (NFKD: "ｂｏｂ" is "bob"), without the
// invisible characters (zero-width joiners, variation selectors), and case
// folded. "bob", "Bob", "b\u200dob" and "bоb" (a Cyrillic о) have one
// skeleton. A skeleton is for comparing, never for showing.
func Skeleton(nick string) string {
	s := norm.NFKD.String(nick)
	s = strings.Map(func(r rune) rune {
		if r == vs15 || r == vs16 || unicode.Is(unicode.Cf, r) || invisible(r) {
			return -1
		}
		return r
	}, s)
	s = confusables.Skeleton(cases.Fold().String(s))
	return norm.NFD.String(cases.Fold().String(s))
}

// joinsEmoji reports whether a zero-width joiner between before and after
// joins two emoji: an emoji (with any skin-tone modifiers and variation
// selectors) ends before, and after starts with one.
func joinsEmoji(before, after []rune) bool {
	i := len(before) - 1
	for i >= 0 && (before[i] == vs16 || before[i] == vs15 || isModifier(before[i])) {
		i--
	}
	return i >= 0 && isEmoji(before[i]) && len(after) > 0 && isEmoji(after[0])
}

// presentable reports whether a variation selector that chooses text or
// emoji presentation may follow r: an emoji, or a keycap's digit or "*".
func presentable(r rune) bool {
	return isEmoji(r) || ('0' <= r && r <= '9') || r == '*'
}

// isEmoji reports whether r is Extended_Pictographic.
func isEmoji(r rune) bool { return unicode.Is(extendedPictographic, r) }

// isModifier reports whether r is an emoji skin-tone modifier.
func isModifier(r rune) bool { return '\U0001f3fb' <= r && r <= '\U0001f3ff' }

// isMark reports whether r is a combining mark that takes no space of its
// own (nonspacing or enclosing).
func isMark(r rune) bool { return unicode.In(r, unicode.Mn, unicode.Me) }

// invisible reports whether r draws nothing although [ValidWireNick]
// allows it: a default-ignorable code point other than the zero-width
// joiner (variation selectors, the combining grapheme joiner, Hangul
// fillers), or the blank braille pattern.
func invisible(r rune) bool {
	return r == brailleBlank || (r != vs15 && r != vs16 && unicode.Is(unicode.Variation_Selector, r)) ||
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}
