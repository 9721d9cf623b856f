// Package roomkey derives and uses the key of a private room: a room joined
// with a passphrase, whose envelopes travel sealed (see [lanchat/node/wire],
// kind sealed). It imports nothing of libp2p.
//
// # Derivation
//
// A room key depends on three inputs: the network key psk (the 32-byte
// pre-shared key of a private network, or nothing for an open network), the
// room's name (valid per [chat.ValidRoom]) and the room passphrase (its
// UTF-8 bytes as given, not normalized, at least one byte). All strings are
// ASCII except the room name and passphrase; "\x00" is one zero byte.
//
//	root = Argon2id(password = passphrase,
//	                salt     = "lanchat room key v1\x00" || room,
//	                time = 3, memory = 65536 KiB (64 MiB), lanes = 2,
//	                length = 32 bytes)
//	aead = HKDF-SHA256(ikm = root, salt = psk, info = "lanchat room v1 aead", length = 32 bytes)
//	tag  = HKDF-SHA256(ikm = root, salt = psk, info = "lanchat room v1 tag",  length = 16 bytes)
//
// HKDF is that of RFC 5869 (extract, then expand); for an open network the
// salt is empty, which RFC 5869 treats as 32 zero bytes. The Argon2id cost
// is that of the network key (lanchat/node's DeriveKey): guessing a
// passphrase offline from captured traffic costs as much per guess. The
// room name in the salt keeps one passphrase from opening two rooms; psk
// as the HKDF salt makes the same room and passphrase on two networks two
// different rooms, and keeps the tag (which is public) from being a
// passphrase oracle for those who do not hold the network key. On an open
// network anyone who sees the tag can test passphrase guesses offline, at
// one Argon2id per guess: a private room there needs a strong passphrase.
//
// [Key.Tag] is tag as 32 lower-case hex digits: the room's wire ID (the
// room field of its envelopes) and the suffix of its pubsub topic. The name
// of a private room never goes on the wire.
//
// # Sealed box
//
// [Key.Seal] returns
//
//	nonce (24 random bytes) || XChaCha20-Poly1305(key = aead, nonce, plaintext, additional data)
//
// that is 24 + len(plaintext) + 16 bytes; the additional data ad is
// authenticated, not sent. Random 192-bit nonces are safe for far more
// boxes than a room will ever seal (a repeat is likely only after ~2^96).
//
// # Test vector
//
// psk = 32 bytes 00 01 02 .. 1f, room "lobby", passphrase "correct horse":
//
//	aead = 5f5ca2ab732ea1787c613ecfcade61b29bf2941159008f8a1feb1e42c0a7b7fe
//	tag  = 27f37ed0720fcd9019f2fec557d65fa5
//
// and on an open network (no psk):
//
//	aead = d2af00d884d39e0e60d2e5f1dcd78ae3fa88d5942228e46d4d68d2ea6b9f64f9
//	tag  = a14cffd221dcaa7ea45659fdf08861fc
//
// With the first key, plaintext "hello", ad "lanchat/2/private/" || tag
// and nonce 40 41 42 .. 57, the box is
//
//	404142434445464748494a4b4c4d4e4f5051525354555657  nonce
//	d63b3630ff                                        ciphertext
//	11ddef5dcfff189bfdf32429856cc4ef                  Poly1305 tag
//
// (pinned in roomkey_test.go; checked against Python's cryptography 48
// Argon2id, HKDF and ChaCha20-Poly1305 with HChaCha20.)
package roomkey
