package store

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"math"

	"github.com/scfws/scfws/proto"
)

// History: each group's and each user's stream keeps its last messages
// for resume and history requests (see proto/history.go). A stream is a
// counter and an epoch (<table>_stream in MySQL); its messages are a ring
// of keep.Size slots (<table>_recent), message n in slot n mod keep.Size,
// so a send is one counter update and one insert that overwrites the
// message keep.Size before it: nothing is ever trimmed, and a stream never
// holds more than keep.Size rows. A stream silent for keep.TTL has expired:
// it reads as empty at once, its next message starts a new epoch at offset
// 1, and the sweep deletes it with its messages.

// streamKey is s's key in the tables: "g:<group>" or "u:<user>".
func streamKey(s proto.Stream) (string, error) {
	switch {
	case s.Group != "" && s.UserID != "":
		return "", fmt.Errorf("stream names a group and a user")
	case s.Group != "" && len(s.Group) <= MaxGroupBytes:
		return "g:" + s.Group, nil
	case s.UserID != "" && len(s.UserID) <= MaxUserIDBytes:
		return "u:" + s.UserID, nil
	}
	return "", fmt.Errorf("stream %q%q: want a group or a user of 1-%d bytes", s.Group, s.UserID, MaxGroupBytes)
}

// checkKeep refuses a retention the ring cannot hold.
func checkKeep(keep proto.Retention) error {
	if keep.Size < 1 || keep.TTL <= 0 {
		return fmt.Errorf("history retention %d messages for %s: want both positive", keep.Size, keep.TTL)
	}
	return nil
}

// crockford is Crockford's base32 alphabet: no padding, and it sorts as the
// bytes it encodes.
var crockford = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// newEpoch is a fresh epoch: 16 characters, 80 random bits.
func newEpoch() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return crockford.EncodeToString(b)
}

// upper is r's exclusive upper bound on offsets.
func upper(r proto.Range) uint64 {
	if r.Before == 0 || r.Before > math.MaxInt64 {
		return math.MaxInt64
	}
	return r.Before
}
