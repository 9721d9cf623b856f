package store

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

func TestRecordPinnedBytes(t *testing.T) {
	l := Line{ID: "A/1", Author: "A", Seqno: 1, Sent: time.Unix(0, 0x0102030405060708), Raw: []byte("hi")}
	got := hex.EncodeToString(encodeRecord(l))
	want := "02" + "0102030405060708" + "8000000000000000" + "0000000000000001" + "0102030405060708" + "0141" + "03412f31" + "026869"
	if got != want {
		t.Errorf("encodeRecord = %s, want %s", got, want)
	}
	l.Order = time.Unix(0, 9)
	got = hex.EncodeToString(encodeRecord(l))
	want = "02" + "0102030405060708" + "8000000000000000" + "0000000000000001" + "0000000000000009" + "0141" + "03412f31" + "026869"
	if got != want {
		t.Errorf("encodeRecord with an order = %s, want %s", got, want)
	}
	// Version 1 (no order) still decodes, its order its sent time.
	v1, _ := hex.DecodeString("01" + "0102030405060708" + "8000000000000000" + "0000000000000001" + "0141" + "03412f31" + "026869")
	d, err := decodeRecord(v1)
	if err != nil || !d.Order.Equal(d.Sent) || d.ID != "A/1" {
		t.Errorf("decode of version 1 = %+v, %v", d, err)
	}
}

var recordSeeds = []Line{
	{ID: "A/1", Author: "A", Seqno: 1, Sent: time.Unix(1, 2), Received: time.Unix(3, 4), Raw: []byte("raw")},
	{ID: "x", Sent: time.Unix(-5, 0)},
	{ID: "12D3KooWQ/ff", Author: "12D3KooWQ", Seqno: 255, Sent: t0, Raw: make([]byte, 300)},
}

func TestRecordDecodeRejects(t *testing.T) {
	good := encodeRecord(recordSeeds[0])
	tests := map[string][]byte{
		"empty":       nil,
		"short":       good[:10],
		"version":     append([]byte{3}, good[1:]...),
		"zero order":  append(append(append([]byte(nil), good[:fixedLen]...), 0x80, 0, 0, 0, 0, 0, 0, 0), good[fixedLen+8:]...),
		"truncated":   good[:len(good)-1],
		"trailing":    append(append([]byte(nil), good...), 0),
		"zero sent":   append(append([]byte{2}, 0x80, 0, 0, 0, 0, 0, 0, 0), good[9:]...),
		"huge length": append(append([]byte(nil), good[:fixedLen+8]...), 0xff, 0xff, 0xff, 0xff, 0x0f),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeRecord(b); !errors.Is(err, errRecord) {
				t.Errorf("decodeRecord(%x) = %v, want errRecord", b, err)
			}
		})
	}
}

func FuzzRecord(f *testing.F) {
	for _, l := range recordSeeds {
		f.Add(encodeRecord(l))
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeRecord(b)
		if err != nil {
			return
		}
		l2, err := decodeRecord(encodeRecord(l))
		if err != nil {
			t.Fatalf("re-decode of %x: %v", b, err)
		}
		if !sameLine(l, l2) {
			t.Fatalf("round trip of %x: %+v != %+v", b, l, l2)
		}
	})
}

func TestRecordRoundTrip(t *testing.T) {
	for _, l := range recordSeeds {
		got, err := decodeRecord(encodeRecord(l))
		if err != nil || !sameLine(got, l) {
			t.Errorf("decodeRecord(encodeRecord(%+v)) = %+v, %v", l, got, err)
		}
	}
}
