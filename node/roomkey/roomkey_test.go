package roomkey

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"lanchat/node/chat"
)

// Derive costs ~0.15 s (0.4 s with -race) and 64 MiB, so the tests derive
// each distinct input once, through keys, and share the result.

type input struct {
	psk              string // hex
	room, passphrase string
}

var (
	vectorPSK = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	vector    = input{vectorPSK, "lobby", "correct horse"}
	openNet   = input{"", "lobby", "correct horse"}
	otherRoom = input{vectorPSK, "kitchen", "correct horse"}
	otherPass = input{vectorPSK, "lobby", "correct horsf"}
	otherPSK  = input{"ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "lobby", "correct horse"}
)

type derived struct {
	key     *Key
	aeadKey []byte
	err     error
}

var (
	keysMu sync.Mutex
	keys   = map[input]func() derived{}
)

// keyFor derives in once per distinct input, with derive (what Derive
// does, keeping the AEAD key for the test).
func keyFor(t testing.TB, in input) derived {
	t.Helper()
	d := derivation(in)()
	if d.err != nil {
		t.Fatalf("Derive(%q, %q, %q) = %v", in.psk, in.room, in.passphrase, d.err)
	}
	return d
}

// warm derives the inputs in parallel, for the keyFor calls that follow.
func warm(ins ...input) {
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Go(func() { derivation(in)() })
	}
	wg.Wait()
}

func derivation(in input) func() derived {
	keysMu.Lock()
	defer keysMu.Unlock()
	f, ok := keys[in]
	if !ok {
		f = sync.OnceValue(func() derived {
			psk, err := hex.DecodeString(in.psk)
			if err != nil {
				panic(err)
			}
			a, tag, err := derive(psk, in.room, in.passphrase)
			if err != nil {
				return derived{err: err}
			}
			return derived{key: newKey(a, tag), aeadKey: a}
		})
		keys[in] = f
	}
	return f
}

func TestDerive(t *testing.T) {
	// Derive itself, once; the other tests use derive through keyFor.
	psk, _ := hex.DecodeString(vectorPSK)
	k, err := Derive(psk, vector.room, vector.passphrase)
	if err != nil {
		t.Fatalf("Derive(%+v) = %v", vector, err)
	}
	if got, want := k.Tag(), "27f37ed0720fcd9019f2fec557d65fa5"; got != want {
		t.Errorf("Derive(%+v).Tag() = %s, want %s", vector, got, want)
	}
	box := keyFor(t, vector).key.Seal([]byte("hi"), nil)
	if got, err := k.Open(box, nil); err != nil || string(got) != "hi" {
		t.Errorf("Open = %q, %v, want %q, nil", got, err, "hi")
	}
}

func TestVector(t *testing.T) {
	tests := []struct {
		in        input
		aead, tag string
	}{
		{vector, "5f5ca2ab732ea1787c613ecfcade61b29bf2941159008f8a1feb1e42c0a7b7fe", "27f37ed0720fcd9019f2fec557d65fa5"},
		{openNet, "d2af00d884d39e0e60d2e5f1dcd78ae3fa88d5942228e46d4d68d2ea6b9f64f9", "a14cffd221dcaa7ea45659fdf08861fc"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("psk=%q", tt.in.psk), func(t *testing.T) {
			t.Parallel()
			d := keyFor(t, tt.in)
			if got := hex.EncodeToString(d.aeadKey); got != tt.aead {
				t.Errorf("aead key of %+v = %s, want %s", tt.in, got, tt.aead)
			}
			if got := d.key.Tag(); got != tt.tag {
				t.Errorf("Tag() of %+v = %s, want %s", tt.in, got, tt.tag)
			}
		})
	}
}

func TestVectorSeal(t *testing.T) {
	k := keyFor(t, vector).key
	nonce := make([]byte, NonceSize)
	for i := range nonce {
		nonce[i] = byte(0x40 + i)
	}
	ad := []byte("lanchat/2/private/" + k.Tag())
	const want = "404142434445464748494a4b4c4d4e4f5051525354555657" + "d63b3630ff" + "11ddef5dcfff189bfdf32429856cc4ef"
	box := k.seal(nonce, []byte("hello"), ad)
	if got := hex.EncodeToString(box); got != want {
		t.Errorf("seal(nonce, %q, %q) = %s, want %s", "hello", ad, got, want)
	}
	plain, err := k.Open(box, ad)
	if err != nil || string(plain) != "hello" {
		t.Errorf("Open(%x) = %q, %v, want %q, nil", box, plain, err, "hello")
	}
}

// TestEmptyPSKIsOpen checks that an empty, non-nil psk is an open network,
// like nil. It reuses the open-network derivation rather than deriving
// twice: derive with []byte{} must give openNet's key.
func TestEmptyPSKIsOpen(t *testing.T) {
	want := keyFor(t, openNet)
	a, tag, err := derive([]byte{}, openNet.room, openNet.passphrase)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, want.aeadKey) || hex.EncodeToString(tag) != want.key.Tag() {
		t.Errorf("derive([]byte{}) = %x, %x, want %x, %s", a, tag, want.aeadKey, want.key.Tag())
	}
}

func TestDistinct(t *testing.T) {
	ins := []input{vector, openNet, otherRoom, otherPass, otherPSK}
	warm(ins...)
	ds := make([]derived, len(ins))
	for i, in := range ins {
		ds[i] = keyFor(t, in)
	}
	for i := range ins {
		if tag := ds[i].key.Tag(); len(tag) != 32 || strings.ToLower(tag) != tag {
			t.Errorf("Tag() of %+v = %q, want 32 lower-case hex digits", ins[i], tag)
		}
		for j := range i {
			if ds[i].key.Tag() == ds[j].key.Tag() {
				t.Errorf("%+v and %+v have the same tag %s", ins[i], ins[j], ds[i].key.Tag())
			}
			if bytes.Equal(ds[i].aeadKey, ds[j].aeadKey) {
				t.Errorf("%+v and %+v have the same key", ins[i], ins[j])
			}
			box := ds[i].key.Seal([]byte("hi"), nil)
			if _, err := ds[j].key.Open(box, nil); !errors.Is(err, ErrOpen) {
				t.Errorf("key of %+v opened a box of %+v: err %v, want %v", ins[j], ins[i], err, ErrOpen)
			}
		}
	}
}

func TestDeriveErrors(t *testing.T) {
	tests := []struct {
		name             string
		psk              []byte
		room, passphrase string
		want             error
	}{
		{"empty passphrase", nil, "lobby", "", ErrEmptyPassphrase},
		{"empty room", nil, "", "pw", chat.ErrInvalidRoom},
		{"room with space", nil, "a b", "pw", chat.ErrInvalidRoom},
		{"room with #", nil, "#lobby", "pw", chat.ErrInvalidRoom},
		{"room too long", nil, strings.Repeat("r", chat.MaxRoomBytes+1), "pw", chat.ErrInvalidRoom},
		{"room bad utf-8", nil, "lo\xffby", "pw", chat.ErrInvalidRoom},
		{"room with NUL", nil, "lo\x00by", "pw", chat.ErrInvalidRoom},
		{"psk 31 bytes", make([]byte, 31), "lobby", "pw", ErrPSKLength},
		{"psk 33 bytes", make([]byte, 33), "lobby", "pw", ErrPSKLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Derive(tt.psk, tt.room, tt.passphrase)
			if !errors.Is(err, tt.want) || k != nil {
				t.Errorf("Derive(%x, %q, %q) = %v, %v, want nil, %v", tt.psk, tt.room, tt.passphrase, k, err, tt.want)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	k := keyFor(t, vector).key
	tests := []struct {
		name      string
		plain, ad []byte
	}{
		{"empty", nil, nil},
		{"empty with ad", []byte{}, []byte("ad")},
		{"short", []byte("hello"), []byte("lanchat/2/private/x")},
		{"japanese", []byte("こんにちは、世界"), nil},
		{"binary", []byte{0, 1, 2, 0xff}, []byte{0}},
		{"4 KiB", bytes.Repeat([]byte("x"), 4096), []byte("ad")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			box := k.Seal(tt.plain, tt.ad)
			if len(box) != len(tt.plain)+Overhead {
				t.Errorf("len(Seal(%q)) = %d, want %d", tt.plain, len(box), len(tt.plain)+Overhead)
			}
			got, err := k.Open(box, tt.ad)
			if err != nil || !bytes.Equal(got, tt.plain) || got == nil {
				t.Errorf("Open(Seal(%q, %q)) = %q, %v, want %q, nil", tt.plain, tt.ad, got, err, tt.plain)
			}
			if box2 := k.Seal(tt.plain, tt.ad); bytes.Equal(box[:NonceSize], box2[:NonceSize]) {
				t.Errorf("two Seals used the same nonce %x", box[:NonceSize])
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	k := keyFor(t, vector).key
	other := keyFor(t, otherPass).key
	ad := []byte("lanchat/2/private/" + k.Tag())
	box := k.Seal([]byte("secret text"), ad)
	flip := func(i int) []byte {
		b := bytes.Clone(box)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		key    *Key
		sealed []byte
		ad     []byte
	}{
		{"nil", k, nil, ad},
		{"empty", k, []byte{}, ad},
		{"nonce only", k, box[:NonceSize], ad},
		{"one byte short of overhead", k, box[:Overhead-1], ad},
		{"truncated", k, box[:len(box)-1], ad},
		{"extended", k, append(bytes.Clone(box), 0), ad},
		{"wrong key", other, box, ad},
		{"wrong ad", k, box, []byte("lanchat/2/private/other")},
		{"missing ad", k, box, nil},
		{"flipped nonce bit", k, flip(0), ad},
		{"flipped ciphertext bit", k, flip(NonceSize), ad},
		{"flipped tag bit", k, flip(len(box) - 1), ad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.key.Open(tt.sealed, tt.ad)
			if err != ErrOpen || got != nil {
				t.Errorf("Open(%x, %q) = %q, %v, want nil, %v", tt.sealed, tt.ad, got, err, ErrOpen)
			}
		})
	}
	if got, err := k.Open(box, ad); err != nil || string(got) != "secret text" {
		t.Errorf("Open(box) after the failures = %q, %v, want %q, nil", got, err, "secret text")
	}
}

func TestNoKeyMaterialPrinted(t *testing.T) {
	d := keyFor(t, vector)
	secret := hex.EncodeToString(d.aeadKey)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		for _, v := range []any{d.key, *d.key} {
			s := fmt.Sprintf(verb, v)
			if strings.Contains(s, secret) || strings.Contains(s, string(d.aeadKey)) || strings.Contains(s, fmt.Sprint(d.aeadKey[:8])) {
				t.Errorf("Sprintf(%q, key) = %q shows key material", verb, s)
			}
		}
	}
	if got, want := d.key.String(), "roomkey:"+d.key.Tag(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// FuzzOpen checks that Open never panics nor opens what was not sealed
// with the key, and that Seal/Open round-trip any plaintext and ad.
func FuzzOpen(f *testing.F) {
	k := keyFor(f, vector).key
	ad := []byte("lanchat/2/private/" + k.Tag())
	// Fixed nonces: each fuzz worker process runs this setup again, and
	// must get the same seed boxes.
	nonce := make([]byte, NonceSize)
	box, empty := k.seal(nonce, []byte("hello"), ad), k.seal(nonce, nil, nil)
	type pair struct{ data, ad string }
	sealed := map[pair]bool{{string(box), string(ad)}: true, {string(empty), ""}: true}
	f.Add([]byte{}, []byte{})
	f.Add(box, ad)
	f.Add(box[:Overhead], ad)
	f.Add(box[:Overhead-1], ad)
	f.Add(empty, []byte{})
	f.Add([]byte("not a box at all, just some text that is long enough"), ad)
	f.Fuzz(func(t *testing.T, data, ad []byte) {
		if plain, err := k.Open(data, ad); err == nil {
			// Only the seeds are real boxes: anything else is a forgery.
			if !sealed[pair{string(data), string(ad)}] {
				t.Errorf("Open(%x, %x) = %q, nil: opened a box not sealed by the seeds", data, ad, plain)
			}
		} else if err != ErrOpen {
			t.Errorf("Open(%x, %x) error = %v, want %v", data, ad, err, ErrOpen)
		}
		sealed := k.Seal(data, ad)
		plain, err := k.Open(sealed, ad)
		if err != nil || !bytes.Equal(plain, data) {
			t.Errorf("Open(Seal(%x, %x)) = %x, %v, want %x, nil", data, ad, plain, err, data)
		}
	})
}

func BenchmarkDerive(b *testing.B) {
	psk, _ := hex.DecodeString(vectorPSK)
	for b.Loop() {
		if _, err := Derive(psk, "lobby", "correct horse"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	k := keyFor(b, vector).key
	for _, n := range []int{64, 4096} {
		plain, ad := make([]byte, n), []byte("lanchat/2/private/"+k.Tag())
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				k.Seal(plain, ad)
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	k := keyFor(b, vector).key
	for _, n := range []int{64, 4096} {
		ad := []byte("lanchat/2/private/" + k.Tag())
		box := k.Seal(make([]byte, n), ad)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Open(box, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDeriveGivesMemoryBack: the 64 MiB argon2id buffer of a room key goes
// back to the operating system when Derive returns.
func TestDeriveGivesMemoryBack(t *testing.T) {
	held := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapSys - ms.HeapReleased
	}
	debug.FreeOSMemory()
	before := held()
	if _, err := Derive(nil, "dev", "room passphrase"); err != nil {
		t.Fatal(err)
	}
	if after := held(); after > before+16<<20 {
		t.Errorf("Derive left %d MiB of heap held from the OS (before: %d MiB), want the 64 MiB given back",
			after>>20, before>>20)
	}
}
