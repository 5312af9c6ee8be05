package router

import (
	"context"

	"github.com/scfws/scfws/proto"
)

// History keeps each group's and each user's last messages with their
// offsets (HISTORY_SIZE > 0), for resume and history requests; see
// proto/history.go.
type History interface {
	// Append gives frame, a message without offset and epoch, the next
	// offset of s's stream and keeps it; it returns that offset with the
	// stream's epoch.
	Append(ctx context.Context, s proto.Stream, frame []byte, keep proto.Retention) (proto.Position, error)
	// Position is s's latest message: offset 0 and epoch "" when it has
	// none or has expired.
	Position(ctx context.Context, s proto.Stream, keep proto.Retention) (proto.Position, error)
	// Messages returns s's kept messages of epoch in r, oldest first.
	Messages(ctx context.Context, s proto.Stream, epoch string, r proto.Range) ([]proto.Kept, error)
	// SweepHistory forgets some of the streams silent past keep.TTL.
	SweepHistory(ctx context.Context, keep proto.Retention) (int64, error)
}
