package roomkey

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"

	"lanchat/node/chat"
)

// Derivation parameters. They are part of the protocol: changing any of
// them changes every room key, so bump the "v1" in the strings with them.
const (
	kdfTime    = 3         // argon2id passes
	kdfMemory  = 64 * 1024 // KiB (64 MiB)
	kdfThreads = 2         // lanes
	kdfSalt    = "lanchat room key v1\x00"
	infoAEAD   = "lanchat room v1 aead"
	infoTag    = "lanchat room v1 tag"
	infoMeet   = "lanchat room v1 rendezvous"
	rootSize   = 32
	tagSize    = 16
)

// Sizes of a sealed box: [Key.Seal] adds Overhead bytes to the plaintext,
// the first NonceSize of them the nonce.
const (
	NonceSize = chacha20poly1305.NonceSizeX // 24
	Overhead  = NonceSize + chacha20poly1305.Overhead
)

// PSKSize is the length of a network key, the psk of [Derive].
const PSKSize = 32

// Errors. [Derive] fails with [ErrEmptyPassphrase], [ErrPSKLength] or
// [chat.ErrInvalidRoom]; every error of [Key.Open] is [ErrOpen].
var (
	ErrEmptyPassphrase = errors.New("roomkey: empty passphrase")
	ErrPSKLength       = errors.New("roomkey: network key must be empty or 32 bytes")
	ErrOpen            = errors.New("roomkey: cannot open sealed box")
)

// Key is a private room's key: derived from the network key, the room's
// name and the room passphrase by [Derive]. It is safe for concurrent use.
// Printing it shows only its tag.
type Key struct {
	aead cipher.AEAD
	tag  string
	meet string // see Rendezvous
}

// Derive derives the key of the private room named room with passphrase
// on the network of psk: psk is the network's 32-byte key, or empty for an
// open network. The package comment gives the derivation. It takes about
// 0.1 s on two cores and 64 MiB of memory (argon2id), by design: call it
// once per room join, not per message.
func Derive(psk []byte, room, passphrase string) (*Key, error) {
	aeadKey, tag, err := derive(psk, room, passphrase)
	if err != nil {
		return nil, err
	}
	return newKey(aeadKey, tag), nil
}

// newKey returns the Key of an AEAD key and a raw tag from [derive].
func newKey(aeadKey, tag []byte) *Key {
	aead, err := chacha20poly1305.NewX(aeadKey)
	if err != nil {
		panic("roomkey: " + err.Error()) // unreachable: derive makes 32-byte keys
	}
	meet := make([]byte, tagSize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, aeadKey, nil, []byte(infoMeet)), meet); err != nil {
		panic("roomkey: hkdf: " + err.Error()) // unreachable: a 16-byte read cannot fail
	}
	return &Key{aead: aead, tag: hex.EncodeToString(tag), meet: hex.EncodeToString(meet)}
}

// derive returns the AEAD key and the raw tag of [Derive].
func derive(psk []byte, room, passphrase string) (aeadKey, tag []byte, err error) {
	if len(psk) != 0 && len(psk) != PSKSize {
		return nil, nil, fmt.Errorf("%w, got %d", ErrPSKLength, len(psk))
	}
	if err := chat.ValidRoom(room); err != nil {
		return nil, nil, fmt.Errorf("derive room key: %w", err)
	}
	if passphrase == "" {
		return nil, nil, ErrEmptyPassphrase
	}
	root := argon2.IDKey([]byte(passphrase), []byte(kdfSalt+room), kdfTime, kdfMemory, kdfThreads, rootSize)
	// Its 64 MiB back to the operating system now, not minutes later.
	debug.FreeOSMemory()
	aeadKey = make([]byte, chacha20poly1305.KeySize)
	tag = make([]byte, tagSize)
	// HKDF-SHA256 reads of at most 255*32 bytes cannot fail.
	if _, err := io.ReadFull(hkdf.New(sha256.New, root, psk, []byte(infoAEAD)), aeadKey); err != nil {
		return nil, nil, fmt.Errorf("roomkey: hkdf: %w", err)
	}
	if _, err := io.ReadFull(hkdf.New(sha256.New, root, psk, []byte(infoTag)), tag); err != nil {
		return nil, nil, fmt.Errorf("roomkey: hkdf: %w", err)
	}
	return aeadKey, tag, nil
}

// Tag returns the room's public tag, 32 lower-case hex digits: its wire ID
// and the suffix of its pubsub topic. Equal tags mean, in practice, equal
// keys.
func (k *Key) Tag() string { return k.tag }

// Rendezvous returns a name for the room that only holders of the key
// can compute, 32 lower-case hex digits, for finding members where
// others look on (a DHT): unlike the tag it is never on the wire with the
// room's messages, so a DHT node cannot link it to the room's topic.
// It is HKDF-SHA256 of the AEAD key, info "lanchat room v1 rendezvous".
func (k *Key) Rendezvous() string { return k.meet }

// String returns "roomkey:" and the tag, so that printing a key never
// shows key material. (A value receiver, unlike the other methods, so that
// a Key printed by value is covered too.)
func (k Key) String() string { return "roomkey:" + k.tag }

// GoString is [Key.String], for %#v.
func (k Key) GoString() string { return k.String() }

// Seal encrypts and authenticates plain, and authenticates ad, under a
// fresh random nonce; it returns nonce || ciphertext, [Overhead] bytes
// longer than plain. The result shares no memory with plain or ad.
func (k *Key) Seal(plain, ad []byte) []byte {
	var nonce [NonceSize]byte
	rand.Read(nonce[:]) // never fails (Go 1.24+: it crashes the program rather than return an error)
	return k.seal(nonce[:], plain, ad)
}

// seal is [Key.Seal] with a given nonce.
func (k *Key) seal(nonce, plain, ad []byte) []byte {
	out := make([]byte, NonceSize, len(plain)+Overhead)
	copy(out, nonce)
	return k.aead.Seal(out, nonce, plain, ad)
}

// Open checks and decrypts a box made by [Key.Seal] with the same key and
// ad, and returns the plaintext (a new slice). Any failure — too short, a
// different key or ad, a changed byte — is [ErrOpen], without saying
// which. It never panics.
func (k *Key) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, ErrOpen
	}
	plain, err := k.aead.Open(nil, sealed[:NonceSize], sealed[NonceSize:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	if plain == nil {
		plain = []byte{} // an empty plaintext opens to a non-nil slice
	}
	return plain, nil
}
