package invite

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func sample() Invite {
	var inv Invite
	for i := range inv.Node {
		inv.Node[i] = byte(i)
	}
	inv.Addrs = []netip.AddrPort{netip.MustParseAddrPort("10.0.0.5:4001")}
	inv.Keyed = true
	inv.Check = [CheckSize]byte{0xde, 0xad, 0xbe, 0xef}
	return inv
}

func secretSample() Invite {
	inv := sample()
	inv.Check = [CheckSize]byte{}
	inv.Key = bytes.Repeat([]byte{0x42}, KeySize)
	return inv
}

// TestLineBytes pins the line of one invitation of each kind, and their
// lengths. The keyed one's bytes: 01 (version), 01 (keyed), 00 01 … 1f
// (node), 01 (one address), 04 0a000005 0fa1 (10.0.0.5:4001), deadbeef
// (check), a72941ab (sum).
func TestLineBytes(t *testing.T) {
	open := sample()
	open.Keyed, open.Check = false, [CheckSize]byte{}
	for _, tc := range []struct {
		name string
		inv  Invite
		want string
	}{
		{"keyed", sample(), "lanchat:aeaqaaicamcakbqhbaequcymbuha6earcijrifiwc4mbsgq3dqor4hybaqfaaaafb6q55ln656tssqnl"},
		{"open", open, "lanchat:aeaaaaicamcakbqhbaequcymbuha6earcijrifiwc4mbsgq3dqor4hybaqfaaaafb6qvth6pom"},
		{"secret", secretSample(), "lanchat-secret:aebqaaicamcakbqhbaequcymbuha6earcijrifiwc4mbsgq3dqor4hybaqfaaaafb6queqscijbeeqscijbeeqscijbeeqscijbeeqscijbeeqscijbeeqritbbrq"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.inv.Line()
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Line() = %s (%d characters), want %s", got, len(got), tc.want)
			}
			back, err := Parse(got)
			if err != nil {
				t.Fatalf("Parse(%s) = %v", got, err)
			}
			if !reflect.DeepEqual(back, tc.inv) {
				t.Errorf("Parse(Line()) = %+v, want %+v", back, tc.inv)
			}
		})
	}
	if n := len(sample().String()); n != 88 {
		t.Errorf("an invitation with one IPv4 address is %d characters, want 88 (see the package comment)", n)
	}
	if n := len(secretSample().String()); n != 140 {
		t.Errorf("a secret invitation with one IPv4 address is %d characters, want 140", n)
	}
}

func TestRoundTrip(t *testing.T) {
	inv := sample()
	inv.Addrs = []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.5:4001"), netip.MustParseAddrPort("[fd00:99:1::5]:4001"),
		netip.MustParseAddrPort("192.168.1.5:1"), netip.MustParseAddrPort("[2001:db8::1]:65535"),
	}
	line := inv.String()
	got, err := Parse(line)
	if err != nil || !reflect.DeepEqual(got, inv) {
		t.Fatalf("Parse(%s) = %+v, %v, want %+v", line, got, err, inv)
	}
}

// TestParseForgiving: case, blanks around, and spaces or dashes in the
// payload (read out in groups) do not matter.
func TestParseForgiving(t *testing.T) {
	line := sample().String()
	payload := line[len(Prefix):]
	var grouped []string
	for i := 0; i < len(payload); i += 4 {
		grouped = append(grouped, payload[i:min(i+4, len(payload))])
	}
	for _, s := range []string{
		"  " + line + "\n",
		strings.ToUpper(line),
		Prefix + strings.Join(grouped, "-"),
		"LANCHAT:" + strings.Join(grouped, " "),
	} {
		if got, err := Parse(s); err != nil || !reflect.DeepEqual(got, sample()) {
			t.Errorf("Parse(%q) = %+v, %v, want the sample", s, got, err)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	line := sample().String()
	payload := line[len(Prefix):]
	flip := []byte(payload)
	if flip[10] == 'a' {
		flip[10] = 'b'
	} else {
		flip[10] = 'a'
	}
	for _, tc := range []struct {
		name string
		line string
		want error
	}{
		{"empty", "", ErrNotInvite},
		{"a multiaddr", "/ip4/10.0.0.5/tcp/4001/p2p/12D3KooWabc", ErrNotInvite},
		{"no prefix", payload, ErrNotInvite},
		{"cut short", line[:len(line)-5], ErrDamaged},
		{"one character wrong", Prefix + string(flip), ErrDamaged},
		{"not base32", Prefix + "0189" + payload[4:], ErrDamaged},
		{"too long", Prefix + strings.Repeat("a", 2000), ErrDamaged},
		{"secret prefix on a plain one", SecretPrefix + payload, ErrMalformed},
		{"plain prefix on a secret one", Prefix + secretSample().String()[len(SecretPrefix):], ErrMalformed},
		{"newer version", withBody(func(b []byte) []byte { b[0] = 2; return b }), ErrVersion},
		{"unknown flag", withBody(func(b []byte) []byte { b[1] |= 1 << 5; return b }), ErrMalformed},
		{"key without keyed", withBody(func(b []byte) []byte { b[1] = flagKey; return b }), ErrMalformed},
		{"no address", withBody(func(b []byte) []byte { b[34] = 0; return b[:35] }), ErrMalformed},
		{"five addresses", withBody(func(b []byte) []byte { b[34] = 5; return b }), ErrMalformed},
		{"family 5", withBody(func(b []byte) []byte { b[35] = 5; return b }), ErrMalformed},
		{"port 0", withBody(func(b []byte) []byte { b[40], b[41] = 0, 0; return b }), ErrMalformed},
		{"check missing", withBody(func(b []byte) []byte { return b[:len(b)-CheckSize] }), ErrMalformed},
		{"trailing", withBody(func(b []byte) []byte { return append(b, 0) }), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := Parse(tc.line); !errors.Is(err, tc.want) {
				t.Errorf("Parse(%q) = %+v, %v, want %v", tc.line, got, err, tc.want)
			}
		})
	}
}

// withBody returns the sample's line with its payload before the sum
// changed by f, and a sum that fits it.
func withBody(f func([]byte) []byte) string {
	b, _ := b32.DecodeString(strings.ToUpper(sample().String()[len(Prefix):]))
	return Prefix + strings.ToLower(b32.EncodeToString(resum(f(b[:len(b)-sumSize]))))
}

func TestLineRefuses(t *testing.T) {
	five := sample()
	for range 4 {
		five.Addrs = append(five.Addrs, five.Addrs[0])
	}
	zone := sample()
	zone.Addrs = []netip.AddrPort{netip.MustParseAddrPort("[fe80::1%eth0]:4001")}
	short := secretSample()
	short.Key = short.Key[:16]
	unkeyed := secretSample()
	unkeyed.Keyed = false
	for _, tc := range []struct {
		name string
		inv  Invite
	}{
		{"no address", Invite{}},
		{"five addresses", five},
		{"zone", zone},
		{"short key", short},
		{"key but not keyed", unkeyed},
	} {
		if s, err := tc.inv.Line(); err == nil {
			t.Errorf("%s: Line() = %s, want an error", tc.name, s)
		}
	}
}

// FuzzInvite: Parse never panics; what it reads makes a line that reads
// back the same, and is the input up to case, blanks and dashes.
func FuzzInvite(f *testing.F) {
	f.Add(sample().String())
	f.Add(secretSample().String())
	f.Add("lanchat:")
	f.Add("lanchat-secret:aaaa-bbbb")
	f.Add(withBody(func(b []byte) []byte { b[0] = 2; return b }))
	f.Fuzz(func(t *testing.T, line string) {
		inv, err := Parse(line)
		if err != nil {
			return
		}
		again, err := inv.Line()
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, which makes no line: %v", line, inv, err)
		}
		back, err := Parse(again)
		if err != nil || !reflect.DeepEqual(back, inv) {
			t.Fatalf("%q reads as %+v, its line %q as %+v, %v", line, inv, again, back, err)
		}
		norm := strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(strings.ToLower(strings.TrimSpace(line)))
		if want := strings.NewReplacer(" ", "", "-", "").Replace(again); norm != want {
			t.Fatalf("%q reads as the line %q", line, again)
		}
	})
}

// resum appends the sum of b.
func resum(b []byte) []byte {
	sum := sha256.Sum256(b)
	return append(b, sum[:sumSize]...)
}

// FuzzInvitePayload fuzzes the payload behind a valid sum, which random
// lines almost never reach: Parse never panics, and what it reads makes
// the same line again.
func FuzzInvitePayload(f *testing.F) {
	for _, inv := range []Invite{sample(), secretSample()} {
		b, _ := b32.DecodeString(strings.ToUpper(strings.SplitN(inv.String(), ":", 2)[1]))
		f.Add(b[:len(b)-sumSize], inv.Key != nil)
	}
	f.Fuzz(func(t *testing.T, body []byte, secret bool) {
		prefix := Prefix
		if secret {
			prefix = SecretPrefix
		}
		line := prefix + strings.ToLower(b32.EncodeToString(resum(bytes.Clone(body))))
		inv, err := Parse(line)
		if err != nil {
			return
		}
		if again, err := inv.Line(); err != nil || again != line {
			t.Fatalf("%q reads as %+v, whose line is %q, %v", line, inv, again, err)
		}
	})
}
