package store

import (
	"container/heap"
	"context"
	"fmt"
	"time"
)

// Nonces: the signed HTTP route records each signature it accepts, until
// the signature's timestamp has left the window every instance accepts, so
// that a request runs once however many instances see it. Each claim also
// forgets at most nonceSweep expired ones: bounded work per request, and
// the record holds about one window of requests.

// MaxNonceBytes bounds a nonce (an HMAC-SHA256 is 32 bytes).
const MaxNonceBytes = 64

// nonceSweep is the most expired nonces one claim forgets.
const nonceSweep = 64

// errNoNonceTable is a claim where the nonce table does not exist.
var errNoNonceTable = &Error{msg: "the signed route's nonce table does not exist (DB_AUTO_MIGRATE is off, or DB_USER may not create it)", missing: true}

func checkNonce(nonce []byte) error {
	if len(nonce) == 0 || len(nonce) > MaxNonceBytes {
		return fmt.Errorf("claim nonce: %d bytes, want 1-%d", len(nonce), MaxNonceBytes)
	}
	return nil
}

// ClaimNonce records nonce until expires; first is false when it was
// recorded before and has not expired.
func (m *Memory) ClaimNonce(_ context.Context, nonce []byte, expires time.Time) (first bool, err error) {
	if err := checkNonce(nonce); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for n := 0; n < nonceSweep && m.nonces.Len() > 0 && m.nonces.items[0].expires.Before(now); n++ {
		delete(m.nonceSet, heap.Pop(&m.nonces).(nonceItem).key)
	}
	key := string(nonce)
	if exp, ok := m.nonceSet[key]; ok && !exp.Before(now) {
		return false, nil
	}
	m.nonceSet[key] = expires
	heap.Push(&m.nonces, nonceItem{key: key, expires: expires})
	return true, nil
}

// Nonces is how many nonces are recorded, expired or not, for tests.
func (m *Memory) Nonces() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.nonceSet)
}

type nonceItem struct {
	key     string
	expires time.Time
}

// nonceHeap orders the recorded nonces by expiry, soonest first.
type nonceHeap struct{ items []nonceItem }

func (h nonceHeap) Len() int           { return len(h.items) }
func (h nonceHeap) Less(i, j int) bool { return h.items[i].expires.Before(h.items[j].expires) }
func (h nonceHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *nonceHeap) Push(x any)        { h.items = append(h.items, x.(nonceItem)) }
func (h *nonceHeap) Pop() any {
	last := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return last
}

// ClaimNonce records nonce until expires in <table>_nonce; first is false
// when a row holds it already. Expired rows go first, at most nonceSweep,
// by the database clock: a failed sweep claims nothing, so a retry is not
// taken for a replay.
func (s *MySQL) ClaimNonce(ctx context.Context, nonce []byte, expires time.Time) (first bool, err error) {
	if err := checkNonce(nonce); err != nil {
		return false, err
	}
	if !s.schema.Nonce {
		return false, errNoNonceTable
	}
	if _, err := s.db.ExecContext(ctx, s.nonceSweep); err != nil {
		return false, fmt.Errorf("sweep nonces: %w", err)
	}
	// Not retried: an insert whose answer was lost may have been made.
	res, err := s.db.ExecContext(ctx, s.nonceClaim, nonce, expires.UTC())
	if err != nil {
		return false, fmt.Errorf("claim nonce: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim nonce: %w", err)
	}
	return n == 1, nil
}
