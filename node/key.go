package node

import "io"

// DeriveKey turns a passphrase into a 32-byte PSK with argon2id (documented params, fixed app salt).
func DeriveKey(passphrase string) []byte { panic("TODO") }

// ReadSwarmKey parses a /key/swarm/psk/1.0.0/ file (base16, base64 or bin) and checks it is 32 bytes.
func ReadSwarmKey(r io.Reader) ([]byte, error) { panic("TODO") }

// FormatSwarmKey encodes psk as a base16 swarm.key file.
func FormatSwarmKey(psk []byte) []byte { panic("TODO") }

// GenerateKey returns a fresh random 32-byte PSK.
func GenerateKey() ([]byte, error) { panic("TODO") }

// Fingerprint is a short public tag of the key (an HMAC of it, never the key); "open" for nil.
func Fingerprint(psk []byte) string { panic("TODO") }
