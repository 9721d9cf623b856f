package node

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDeriveKeyVector(t *testing.T) {
	t.Parallel()
	// Pinned: a change here changes every network's key. Parameters:
	// argon2id, time 3, 64 MiB, 2 threads, salt "lanchat pnet key v1".
	tests := []struct{ pass, want string }{
		{"our passphrase", "2e5268c92698525ae25b98d6bdd4d26b383781d9dcfad05a5e6ef16372ed4e9d"},
		{"", "a15728656b7c2d638b7ba8127bd52be41d307a7c84354adf5fe9bea37945958b"},
	}
	for _, tt := range tests {
		start := time.Now()
		got := hex.EncodeToString(DeriveKey(tt.pass))
		t.Logf("DeriveKey took %v", time.Since(start))
		if got != tt.want {
			t.Errorf("DeriveKey(%q) = %s, want %s", tt.pass, got, tt.want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = byte(i)
	}
	tests := []struct {
		psk  []byte
		want string
	}{
		{nil, "open"},
		{[]byte{}, "open"},
		// HMAC-SHA256(key=00..1f, "lanchat network fingerprint v1")[:8]
		{k, "4b4922383bcde92b"},
	}
	for _, tt := range tests {
		if got := Fingerprint(tt.psk); got != tt.want {
			t.Errorf("Fingerprint(%x) = %q, want %q", tt.psk, got, tt.want)
		}
	}
	k2 := bytes.Clone(k)
	k2[0] ^= 1
	if Fingerprint(k) == Fingerprint(k2) {
		t.Errorf("different keys, same fingerprint")
	}
	if strings.Contains(Fingerprint(k), hex.EncodeToString(k[:8])) {
		t.Errorf("fingerprint reveals the key")
	}
}

func TestSwarmKeyRoundTrip(t *testing.T) {
	for range 5 {
		k, err := GenerateKey()
		if err != nil || len(k) != KeySize {
			t.Fatalf("GenerateKey() = %x, %v", k, err)
		}
		file := FormatSwarmKey(k)
		if !bytes.HasPrefix(file, []byte("/key/swarm/psk/1.0.0/\n/base16/\n")) {
			t.Errorf("FormatSwarmKey = %q", file)
		}
		got, err := ReadSwarmKey(bytes.NewReader(file))
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("ReadSwarmKey(FormatSwarmKey(%x)) = %x, %v", k, got, err)
		}
	}
	a, _ := GenerateKey()
	b, _ := GenerateKey()
	if bytes.Equal(a, b) {
		t.Errorf("GenerateKey twice gave %x", a)
	}
}

// swarmKeyCases are ReadSwarmKey cases; they also seed FuzzReadSwarmKey.
var key32 = bytes.Repeat([]byte{0xab}, KeySize)

var swarmKeyCases = []struct {
	name string
	in   string
	want error // nil = key32
}{
	{"base16", "/key/swarm/psk/1.0.0/\n/base16/\n" + hex.EncodeToString(key32) + "\n", nil},
	{"base16 upper no newline", "/key/swarm/psk/1.0.0/\n/base16/\n" + strings.ToUpper(hex.EncodeToString(key32)), nil},
	{"base16 crlf", "/key/swarm/psk/1.0.0/\r\n/base16/\r\n" + hex.EncodeToString(key32) + "\r\n", nil},
	{"base16 spaces", "/key/swarm/psk/1.0.0/\n/base16/\n  " + hex.EncodeToString(key32) + "  \n\n", nil},
	{"base64", "/key/swarm/psk/1.0.0/\n/base64/\n" + base64.StdEncoding.EncodeToString(key32) + "\n", nil},
	{"bin", "/key/swarm/psk/1.0.0/\n/bin/\n" + string(key32), nil},
	{"bin newline", "/key/swarm/psk/1.0.0/\n/bin/\n" + string(key32) + "\n", nil},
	{"empty", "", ErrSwarmKey},
	{"no newline", "/key/swarm/psk/1.0.0/", ErrSwarmKey},
	{"wrong header", "/key/swarm/psk/2.0.0/\n/base16/\n" + hex.EncodeToString(key32), ErrSwarmKey},
	{"passphrase file", "our passphrase\n", ErrSwarmKey},
	{"unknown encoding", "/key/swarm/psk/1.0.0/\n/base32/\nAAAA\n", ErrSwarmKey},
	{"bad hex", "/key/swarm/psk/1.0.0/\n/base16/\n" + strings.Repeat("zz", 32) + "\n", ErrSwarmKey},
	{"odd hex", "/key/swarm/psk/1.0.0/\n/base16/\nabc\n", ErrSwarmKey},
	{"bad base64", "/key/swarm/psk/1.0.0/\n/base64/\n!!!!\n", ErrSwarmKey},
	{"16 bytes", "/key/swarm/psk/1.0.0/\n/base16/\n" + hex.EncodeToString(key32[:16]) + "\n", ErrKeyLength},
	{"64 bytes", "/key/swarm/psk/1.0.0/\n/base16/\n" + hex.EncodeToString(append(key32, key32...)) + "\n", ErrKeyLength},
	{"empty key", "/key/swarm/psk/1.0.0/\n/base16/\n", ErrKeyLength},
	{"base64 31 bytes", "/key/swarm/psk/1.0.0/\n/base64/\n" + base64.StdEncoding.EncodeToString(key32[:31]) + "\n", ErrKeyLength},
	{"bin short", "/key/swarm/psk/1.0.0/\n/bin/\n" + string(key32[:20]), ErrKeyLength},
	{"huge", "/key/swarm/psk/1.0.0/\n/base16/\n" + strings.Repeat("a", 10000), ErrSwarmKey},
}

func TestReadSwarmKey(t *testing.T) {
	for _, tt := range swarmKeyCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadSwarmKey(strings.NewReader(tt.in))
			if tt.want == nil {
				if err != nil || !bytes.Equal(got, key32) {
					t.Errorf("ReadSwarmKey(%q) = %x, %v; want %x", tt.in, got, err, key32)
				}
				return
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrSwarmKey) {
				t.Errorf("ReadSwarmKey(%q) = %x, %v; want %v", tt.in, got, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func FuzzReadSwarmKey(f *testing.F) {
	for _, tt := range swarmKeyCases {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		k, err := ReadSwarmKey(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrSwarmKey) {
				t.Fatalf("ReadSwarmKey(%q) error %v does not wrap ErrSwarmKey", in, err)
			}
			return
		}
		if len(k) != KeySize {
			t.Fatalf("ReadSwarmKey(%q) = %d bytes", in, len(k))
		}
		k2, err := ReadSwarmKey(bytes.NewReader(FormatSwarmKey(k)))
		if err != nil || !bytes.Equal(k, k2) {
			t.Fatalf("round trip of %x = %x, %v", k, k2, err)
		}
	})
}

func TestCheckPSK(t *testing.T) {
	for _, tt := range []struct {
		psk []byte
		ok  bool
	}{{nil, true}, {key32, true}, {key32[:16], false}, {[]byte{}, true}, {append(key32, 1), false}} {
		if err := checkPSK(tt.psk); (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrKeyLength)) {
			t.Errorf("checkPSK(%d bytes) = %v", len(tt.psk), err)
		}
	}
}
