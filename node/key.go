package node

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"runtime/debug"

	"golang.org/x/crypto/argon2"

	"lanchat/node/files"
)

// KeySize is the length in bytes of a pre-shared key (libp2p pnet).
const KeySize = 32

// Key derivation parameters of [DeriveKey]. Changing any of them changes every
// derived key, so they are part of the protocol: bump kdfSalt's version if they
// ever change. Time 3, 64 MiB, 2 lanes takes about 100–180 ms on a 2-core
// machine (measured with go1.26 on amd64) — slow enough that guessing a
// passphrase offline from captured traffic is expensive, quick enough that
// nobody notices it at start-up.
const (
	kdfTime    = 3         // argon2id passes
	kdfMemory  = 64 * 1024 // KiB (64 MiB)
	kdfThreads = 2         // lanes
	kdfSalt    = "lanchat pnet key v1"
)

// fingerprintMsg is the HMAC message of [Fingerprint].
const fingerprintMsg = "lanchat network fingerprint v1"

// FingerprintOpen is what [Fingerprint] returns for an open network (no key).
const FingerprintOpen = "open"

// Swarm key errors. Every error of [ReadSwarmKey] wraps [ErrSwarmKey]; a key of
// the wrong length also wraps [ErrKeyLength].
var (
	ErrSwarmKey  = errors.New("node: malformed swarm.key")
	ErrKeyLength = errors.New("node: key must be 32 bytes")
)

const (
	swarmKeyHeader = "/key/swarm/psk/1.0.0/"
	encBase16      = "/base16/"
	encBase64      = "/base64/"
	encBin         = "/bin/"
	maxSwarmKey    = 4096 // bytes; a real swarm.key is ~90
)

// DeriveKey turns a passphrase into a 32-byte PSK with argon2id: time 3,
// memory 64 MiB, 2 threads, salt "lanchat pnet key v1". The same passphrase
// gives the same key on every machine. It takes ~0.1–0.2 s and 64 MiB on a
// 2-core machine, which makes guessing the passphrase offline expensive.
// The 64 MiB go back to the operating system before it returns: the Go
// runtime would keep them for minutes, and they would triple the resident
// memory of a chat that needs ~25 MB.
func DeriveKey(passphrase string) []byte {
	k := argon2.IDKey([]byte(passphrase), []byte(kdfSalt), kdfTime, kdfMemory, kdfThreads, KeySize)
	debug.FreeOSMemory()
	return k
}

// ReadKeyFile reads the swarm.key file at path; its errors are one
// sentence that names the file. The file must be a regular file (a named
// pipe would hang the start) that other users cannot read or change: a
// network key is shared by the people of the network, so it may be
// readable by the file's group, like 0640. The format is ReadSwarmKey's.
func ReadKeyFile(path string) ([]byte, error) {
	f, st, err := openRegular(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("cannot read key file %q: %w", path, files.Cause(err))
	case err != nil:
		return nil, fmt.Errorf("cannot read key file %q: it %w", path, err)
	}
	defer f.Close()
	if perm := st.Mode().Perm(); runtime.GOOS != "windows" && perm&0o026 != 0 {
		what := "readable"
		if perm&0o004 == 0 {
			what = "writable"
		}
		return nil, fmt.Errorf("key file %q is %s by others (mode %04o); run chmod 600 %s (or 640 to share it with your group)",
			path, what, perm, path)
	}
	psk, err := ReadSwarmKey(f)
	if err != nil {
		msg := err.Error()
		var ce *ConfigError
		if errors.As(err, &ce) {
			msg = ce.Reason
		}
		return nil, fmt.Errorf("key file %q: %s", path, msg)
	}
	return psk, nil
}

// ReadSwarmKey parses a swarm.key file in the libp2p v1 format:
//
//	/key/swarm/psk/1.0.0/
//	/base16/            (or /base64/ or /bin/)
//	<key>
//
// and checks that the key is exactly 32 bytes. Line ends may be "\n" or
// "\r\n"; whitespace around a base16/base64 key is ignored. A /bin/ key is the
// raw 32 bytes, optionally followed by one "\n". Errors wrap [ErrSwarmKey]
// (and [ErrKeyLength] for a key of the wrong size); a malformed file's is a
// [ConfigError] of field PSK that says what is wrong in one sentence.
func ReadSwarmKey(r io.Reader) ([]byte, error) {
	key, err := readSwarmKey(r)
	if err != nil && errors.Is(err, ErrSwarmKey) {
		return nil, configError("PSK", err)
	}
	return key, err
}

func readSwarmKey(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSwarmKey+1))
	if err != nil {
		return nil, fmt.Errorf("read swarm.key: %w", err)
	}
	if len(data) > maxSwarmKey {
		return nil, fmt.Errorf("%w: file larger than %d bytes", ErrSwarmKey, maxSwarmKey)
	}
	header, rest, ok := cutLine(data)
	if (!ok || header != swarmKeyHeader) && bytes.HasPrefix(data, identityPrefix) {
		return nil, fmt.Errorf("%w: this is a lanchat identity (an identity.key), not a network key", ErrSwarmKey)
	}
	if !ok || header != swarmKeyHeader {
		return nil, fmt.Errorf("%w: first line must be %s", ErrSwarmKey, swarmKeyHeader)
	}
	enc, rest, ok := cutLine(rest)
	if !ok {
		return nil, fmt.Errorf("%w: missing encoding line (/base16/, /base64/ or /bin/)", ErrSwarmKey)
	}
	var key []byte
	switch enc {
	case encBase16:
		s := bytes.TrimSpace(rest)
		key = make([]byte, hex.DecodedLen(len(s)))
		if _, err := hex.Decode(key, s); err != nil {
			return nil, fmt.Errorf("%w: bad base16 key: %w", ErrSwarmKey, err)
		}
	case encBase64:
		s := bytes.TrimSpace(rest)
		key = make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Decode(key, s)
		if err != nil {
			return nil, fmt.Errorf("%w: bad base64 key: %w", ErrSwarmKey, err)
		}
		key = key[:n]
	case encBin:
		key = rest
		if len(key) == KeySize+1 && key[KeySize] == '\n' {
			key = key[:KeySize]
		}
		key = bytes.Clone(key)
	default:
		return nil, fmt.Errorf("%w: unknown encoding %q (want /base16/, /base64/ or /bin/)", ErrSwarmKey, enc)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: %w, got %d", ErrSwarmKey, ErrKeyLength, len(key))
	}
	return key, nil
}

// cutLine splits off the first line of b, without its "\n" or "\r\n". It
// reports false when b has no "\n".
func cutLine(b []byte) (line string, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return "", nil, false
	}
	return string(bytes.TrimSuffix(b[:i], []byte("\r"))), b[i+1:], true
}

// FormatSwarmKey encodes psk as a base16 swarm.key file, readable by
// [ReadSwarmKey] and other libp2p tools.
func FormatSwarmKey(psk []byte) []byte {
	var b bytes.Buffer
	b.WriteString(swarmKeyHeader + "\n" + encBase16 + "\n")
	b.WriteString(hex.EncodeToString(psk))
	b.WriteByte('\n')
	return b.Bytes()
}

// GenerateKey returns a fresh random 32-byte PSK.
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// Fingerprint is a short public tag of the key: the first 8 bytes of
// HMAC-SHA256(key=psk, msg="lanchat network fingerprint v1") as 16 lowercase
// hex digits. It tells whether two nodes share a key without revealing it.
// An empty or nil psk gives [FingerprintOpen].
func Fingerprint(psk []byte) string {
	if len(psk) == 0 {
		return FingerprintOpen
	}
	m := hmac.New(sha256.New, psk)
	m.Write([]byte(fingerprintMsg))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// checkPSK reports whether psk is usable as a network key: empty (open) or 32 bytes.
func checkPSK(psk []byte) error {
	if len(psk) != 0 && len(psk) != KeySize {
		return fmt.Errorf("%w, got %d", ErrKeyLength, len(psk))
	}
	return nil
}
