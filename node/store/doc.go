// Package store keeps each room's chat log on disk: the signed records as
// they were received, so they can be shown again after a restart and served
// to peers that missed them. It is a leaf: it knows nothing of libp2p and
// treats a record ([Line.Raw]) as opaque bytes; package node verifies
// records before it appends them and after it reads them back.
//
// # Why bbolt
//
// The log lives in one go.etcd.io/bbolt file: pure Go, a single file,
// copy-on-write B+tree pages with an fsync per committed transaction (a
// crash leaves the last committed state), and an exclusive flock on the
// file, which turns a second lanchat process on the same data directory
// into [ErrLocked] instead of two writers corrupting one file.
//
// # Layout
//
//	bucket "meta"            "format" -> 0x01
//	bucket "rooms"
//	  bucket <room wire ID>
//	    "n"                  -> uint64 big-endian, lines in the room
//	    bucket "lines"       key -> value (record below), FillPercent 1.0
//	    bucket "ids"         message ID -> key
//	bucket "marks"           author peer ID -> seqno (u64 BE) | heard ms (i64 BE)
//	bucket "dms"             direct messages, both ways (see [DM], dm.go)
//
// The marks are for anti-replay across runs (see [Mark]); an older lanchat
// that does not know the bucket leaves it alone.
//
// A line's key orders it for display and makes appends (mostly in time
// order) land on the right edge of the tree, hence FillPercent 1.0:
//
//	0               8                       8+len(ID)
//	+---------------+-----------------------+
//	| sent ms (BE)  | message ID            |
//	+---------------+-----------------------+
//
// "sent ms" is [Line.Sent] in Unix milliseconds with the sign bit flipped,
// so that big-endian byte order is time order. Lines sent in the same
// millisecond are ordered by ID.
//
// # Value record, version 1
//
//	0        1                 9                 17                25
//	+--------+-----------------+-----------------+-----------------+
//	| ver=1  | sent ns (BE)    | received ns (BE)| seqno (BE)      |
//	+--------+-----------------+-----------------+-----------------+
//	| uvarint len | author | uvarint len | ID | uvarint len | raw  |
//	+-------------+--------+-------------+----+-------------+------+
//
// Times are int64 Unix nanoseconds; math.MinInt64 stands for the zero
// [time.Time]. Lengths are bounded ([MaxAuthorLen], [MaxIDLen],
// [MaxRawLen]) and the record must end exactly after raw. The room is not
// repeated in the value (it is the bucket). A value that does not decode, or
// whose ID differs from its key, is skipped and logged once, never a panic.
// New versions get a new first byte; a decoder rejects versions it does not
// know.
//
// # Recovery
//
// A file that bbolt cannot open, whose meta page promises more pages than
// the file holds (a truncated copy), or that fails bbolt's consistency
// check, is renamed to PATH.corrupt-<UTC time> (never deleted) and an empty
// log is started; [Store.Recovered] returns the sentence to show the user.
package store
