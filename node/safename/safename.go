// Package safename reduces a file name that a peer offered to a plain file
// name that is safe to create in a download directory on any of the
// systems lanchat runs on (Linux, macOS, Windows), and finds a name that
// does not clobber a file already there. It is a leaf: it imports nothing
// of lanchat.
//
// [Reduce] keeps the last element of the offered name (after the last
// "/" or "\"), then:
//
//   - makes it valid UTF-8 (invalid bytes become U+FFFD) in Unicode
//     normal form NFC;
//   - drops control characters (C0, C1, DEL), format characters (Cf: the
//     bidirectional overrides and isolates, zero-width characters, the
//     BOM) and the other invisible or unassigned ones, and turns every
//     kind of white space into a plain space, runs of them into one;
//   - replaces what Windows forbids in a name (< > : " | ? *) with "_";
//   - trims spaces and dots at both ends: no ".", "..", hidden ".bashrc"
//     (it becomes "bashrc"), nor the trailing dot or space Windows drops;
//   - prefixes a Windows device name (CON, PRN, AUX, NUL, COM0–9, LPT0–9,
//     CONIN$, CONOUT$, any case, with or without an extension) with "_";
//   - shortens it to at most [MaxBytes] bytes, keeping its extension;
//   - and names it "file" when nothing is left.
//
// The result r is never empty, is its own [Reduce], and satisfies
// filepath.IsLocal(r) and filepath.Base(r) == r on every system.
package safename

import (
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxBytes is the longest name [Reduce] returns, in bytes: 255 is the limit
// of most file systems; the margin leaves room for " (12)" and for the
// partial file's suffixes.
const MaxBytes = 200

// maxExt is the longest extension [Reduce] keeps whole when it must
// shorten a name, in bytes with its dot.
const maxExt = 16

// fallback is the name of a file whose offered name had nothing usable.
const fallback = "file"

// Reduce returns name reduced to a safe plain file name, as the package
// comment describes. It never fails.
func Reduce(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToValidUTF8(name, "\uFFFD")
	var b strings.Builder
	b.Grow(len(name))
	space := false
	for _, r := range name {
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case r == '/' || r == '\\':
			// cannot happen after the cut above, but NFC could compose one
			r = '_'
		case strings.ContainsRune(`<>:"|?*`, r):
			r = '_'
		case !visible(r):
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	// NFC after the filter: a dropped invisible character may have kept
	// a letter and its accent apart.
	name = trim(norm.NFC.String(b.String()))
	if isDevice(name) {
		name = "_" + name
	}
	name = shorten(name, MaxBytes)
	if name == "" {
		return fallback
	}
	return name
}

// visible reports whether r may appear in a name: a graphic character
// that is not a format character (bidi controls, zero-width joiners and
// spaces, the BOM) nor a private-use or unassigned one.
func visible(r rune) bool {
	switch {
	case r == utf8.RuneError:
		return true // stands for invalid bytes: visible, harmless
	case !unicode.IsGraphic(r), unicode.Is(unicode.Cf, r), unicode.Is(unicode.Co, r):
		return false
	case r >= 0xfe00 && r <= 0xfe0f, r >= 0xe0100 && r <= 0xe01ef:
		return false // variation selectors: invisible on their own
	}
	return true
}

// trim drops spaces and dots at both ends.
func trim(s string) string { return strings.Trim(s, " .") }

// devices are the names Windows reserves in every directory, upper case.
var devices = map[string]bool{
	"CON": true, "PRN": true, "AUX": true, "NUL": true, "CONIN$": true, "CONOUT$": true,
	"COM0": true, "COM1": true, "COM2": true, "COM3": true, "COM4": true,
	"COM5": true, "COM6": true, "COM7": true, "COM8": true, "COM9": true,
	"LPT0": true, "LPT1": true, "LPT2": true, "LPT3": true, "LPT4": true,
	"LPT5": true, "LPT6": true, "LPT7": true, "LPT8": true, "LPT9": true,
	// the superscript digits count as digits there too
	"COM¹": true, "COM²": true, "COM³": true, "LPT¹": true, "LPT²": true, "LPT³": true,
}

// isDevice reports whether name is a Windows device name: the part before
// its first dot (and any spaces before that) is one, in any case.
func isDevice(name string) bool {
	stem, _, _ := strings.Cut(name, ".")
	return devices[strings.ToUpper(strings.TrimRight(stem, " "))]
}

// shorten cuts name to at most max bytes, on a rune boundary, keeping a
// short extension; the result is trimmed again (a cut can leave a dot or
// a space at the end).
func shorten(name string, max int) string {
	if len(name) <= max {
		return name
	}
	ext := path.Ext(name)
	if len(ext) > maxExt || len(ext) == len(name) {
		ext = ""
	}
	stem := name[:len(name)-len(ext)]
	cut := max - len(ext)
	for cut > 0 && !utf8.RuneStart(stem[cut]) {
		cut--
	}
	return trim(trim(stem[:cut]) + ext)
}

// Variant returns the nth alternative to name, a reduced name, for when a
// file of that name exists already: "report (1).pdf", "report (2).pdf",
// "archive (1).tar.gz"; n = 0 is name itself. Like name, the result is
// at most [MaxBytes] long (the stem is shortened for the number).
func Variant(name string, n int) string {
	if n <= 0 {
		return name
	}
	stem, ext := splitExt(name)
	stem = strings.TrimRight(stem, " ") // "a .txt": "a (1).txt"
	suffix := fmt.Sprintf(" (%d)", n)
	if over := len(stem) + len(suffix) + len(ext) - MaxBytes; over > 0 {
		cut := max(len(stem)-over, 0)
		for cut > 0 && !utf8.RuneStart(stem[cut]) {
			cut--
		}
		stem = strings.TrimRight(stem[:cut], " .")
	}
	return stem + suffix + ext
}

// splitExt splits name before its extension, taking ".tar.gz"-like double
// extensions whole ("archive", ".tar.gz"); a name that is all extension
// has none.
func splitExt(name string) (stem, ext string) {
	ext = path.Ext(name)
	if ext == name || len(ext) > maxExt {
		return name, ""
	}
	stem = name[:len(name)-len(ext)]
	if e2 := path.Ext(stem); e2 != "" && e2 != stem && len(e2) <= 5 && strings.EqualFold(e2, ".tar") {
		return stem[:len(stem)-len(e2)], e2 + ext
	}
	return stem, ext
}
