// Package reconcile finds what two peers' sets of line IDs lack of each
// other in a few round trips, with bytes on the wire that grow with the
// difference, not with the sets: range-based set reconciliation after
// Negentropy (https://github.com/hoytech/negentropy), written from its
// idea and not wire-compatible with it. It is a leaf package: standard
// library only, nothing of libp2p or of lanchat.
//
// # How it goes
//
// An [Item] is a time (unix ms) and a 16-byte ID; both sides sort theirs
// by (Time, ID). The initiator ([Session]) cuts its whole set into
// ranges (16 of them, from 64 items on) and sends the fingerprint of each. The responder ([Set.Respond])
// compares each with the fingerprint of its own items in the same range:
// a range that matches is done; one that differs it cuts again, by its
// own items, or, when it holds fewer than 16 items there, answers with
// the list of their IDs. A cut makes ranges of about 4 items, and at
// most 16 ranges. Back and forth, each side answering the other's last
// message, until every range is done: the initiator then knows the IDs
// only it holds (have) and those only the peer holds (need). A message
// always covers the whole key space, so the responder keeps no state
// between messages.
//
// The fingerprint of a range is the first 16 bytes of SHA-256(sum ||
// count): sum is the IDs of its items, read as little-endian 128-bit
// integers, added mod 2^128 and written as 16 bytes little endian; count
// is their number as a uvarint. With prefix sums one costs two binary
// searches and one SHA-256, whatever the size of the range.
//
// # Messages, version 1
//
// A version byte, then ranges; integers are unsigned varints
// (encoding/binary's Uvarint), in their shortest form:
//
//	+---------+-------+------+---------+-------+------+---------+---
//	| version | bound | mode | payload | bound | mode | payload | ...
//	|  = 1    |       |  u8  |         |       |  u8  |         |
//	+---------+-------+------+---------+-------+------+---------+---
//
// The key of an item is (Time, ID). Ranges follow each other upward from
// the lowest key, (0, sixteen zero bytes): each holds the keys from the
// previous range's bound (included) up to its own bound (excluded); the
// keys above the last bound are done (an implicit skip). A bound is
//
//	00                             infinity: above every key; last if present
//	uvarint(1 + t - t')            t: its time; t': the time of the previous
//	uvarint(n) prefix              bound of the message, 0 for the first
//
// and stands for the key (t, prefix padded with zero bytes to 16); n is at
// most 16 and the prefix never ends in a zero byte. A sender writes the
// shortest bound between two neighbouring items: the later one's time and
// no prefix when their times differ, else the later one's ID up to and
// including the first byte that differs. Bounds strictly increase. The
// modes (ONLY APPEND TO THIS LIST):
//
//	mode  name         payload
//	0     skip         none: the range is done (never two in a row, never
//	                   last: the sender merges and drops them)
//	1     fingerprint  16 bytes: the sender's fingerprint of the range
//	2     id list      uvarint n, then n IDs of 16 bytes: all the sender's
//	                   items in the range, in key order
//	3     id diff      responder only, answering an id list of m IDs:
//	                   uvarint m, ceil(m/8) bytes of bitmap (bit i, least
//	                   significant first, set when the responder lacks
//	                   the list's i-th ID; padding bits zero), uvarint a,
//	                   then a IDs: its items in the range the list lacks
//
// Each side answers every range of the message it got, in order: a skip
// with a skip; a fingerprint equal to its own with a skip, another by
// cutting its own items in the range into fingerprints (n items into
// min(16, ceil(n/4)) ranges, as even as can be, the first ones one item
// larger), or by an id list when they are fewer than 16. The responder
// answers an id list with an id diff (a skip when there is no
// difference); the initiator takes an id list or an id diff as the
// answer for the range (it finds have and need in it) and skips it. The
// initiator is done when its next message would hold no range. Times
// below 0 are read as 0 ([NewSet]).
//
// A side that would run past the message size limit stops answering and
// sums up the rest of the message instead: each run of ranges that are
// not skips becomes one fingerprint of its own items there, and skips
// stay skips, while there is room; then one fingerprint of all its items
// from there to infinity ends the message. What was summed up comes back,
// cut again, in the next round. An id diff too large for the room left
// becomes the responder's own id list, cut short with a bound after its
// last ID (the rest of the range is summed up too). So every message
// makes progress, and no message exceeds the limit.
//
// Example, A holding the IDs 11…11, 22…22, 33…33 (16 bytes each), at
// times 1000, 1001, 1002, and B holding 22…22, 33…33, 44…44; A's first
// message:
//
//	01                             version 1
//	00                             bound: infinity
//	02 03 11…11 22…22 33…33        id list of 3 IDs (fewer than 16)
//
// B's reply, after which A has 11…11, needs 44…44 and sends nothing more:
//
//	01                             version 1
//	00                             bound: infinity
//	03 03 01                       id diff over 3 IDs: bitmap 0x01, B lacks the first
//	   01 44…44                    1 ID B holds that the list lacks
//
// # What a hostile peer meets
//
// A message larger than [Limits.MaxMessage] (default 64 KiB, at least
// 4 KiB) is refused before it is read. A range takes at least 3 bytes, so
// a message holds fewer than MaxMessage/3 ranges; an id list or id diff
// holds at most MaxMessage/16 IDs; the decoder allocates nothing for a
// count the bytes present cannot back. Any malformed input, at any byte,
// is an error wrapping [ErrMalformed], never a panic, and nothing of the
// message is acted on.
//
// Per message, the responder's work is one pass over it; two binary
// searches and at most one SHA-256 per range; one more SHA-256 per
// fingerprint it writes (each takes at least 18 bytes of a reply of at
// most MaxMessage); one map of the IDs of each id list (at most
// MaxMessage/16 in all); and a scan of its own items in the ranges of the
// id lists, which do not overlap: at most [Set.Len] items. Its memory is
// O(MaxMessage) per call, freed on return. Respond keeps no state, so
// the caller bounds the rounds per stream (and the streams per peer).
//
// A [Session] accepts at most [Limits.MaxRounds] replies (default 32):
// when a reply would need one more, it returns what that reply taught it
// with [ErrTooManyRounds]. It remembers the IDs it reported, so as to
// report none twice: at most MaxRounds × MaxMessage/16 of them. A hostile
// responder can still report any IDs as need (at most MaxMessage/16 per
// reply): treat need as claims, to be fetched, verified and bounded by
// the caller, not as facts.
package reconcile
