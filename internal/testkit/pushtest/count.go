package pushtest

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"sync"
)

// counter counts pushes by ID and by frame, keeping neither.
type counter struct {
	byID    map[string]int
	byFrame map[[sha256.Size]byte]int
	n       int
}

func (c *counter) add(id string, frame [sha256.Size]byte) {
	c.n++
	c.byID[id]++
	c.byFrame[frame]++
}

// CountOnly stops keeping pushes (as Discard does) and counts them
// instead, by connection ID and by frame: enough to check that a
// broadcast of millions reached each ID once, with the same bytes. It
// reads no JSON (a test's own process, under -race, decoded large pushes
// slower than the function under test made them): a push's frame is its
// body without its ID, and only the ID's prefix decides the answer.
func (s *Server) CountOnly() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discard = true
	s.counter = &counter{byID: map[string]int{}, byFrame: map[[sha256.Size]byte]int{}}
	s.counting.Store(true)
}

var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var idKey = []byte(`"secConnectionID":"`)

// count is serve for CountOnly: it finds the ID in the body and hashes
// the rest.
func (s *Server) count(w http.ResponseWriter, r *http.Request) {
	b := bodies.Get().(*bytes.Buffer)
	defer bodies.Put(b)
	b.Reset()
	if _, err := io.Copy(b, r.Body); err != nil {
		answer(w, http.StatusBadRequest, 400, "body: "+err.Error())
		return
	}
	body := b.Bytes()
	at := bytes.Index(body, idKey)
	end := -1
	if at >= 0 {
		at += len(idKey)
		end = bytes.IndexByte(body[at:], '"')
	}
	if end <= 0 {
		answer(w, http.StatusBadRequest, 400, "malformed push: no secConnectionID")
		return
	}
	id := string(body[at : at+end])
	h := sha256.New()
	h.Write(body[:at])
	h.Write(body[at+end:])
	var frame [sha256.Size]byte
	h.Sum(frame[:0])
	s.mu.Lock()
	s.counter.add(id, frame)
	firstFlaky := s.firstFlaky(id)
	s.mu.Unlock()
	s.answerFor(w, r, id, firstFlaky)
}

// Counts returns how many pushes each ID got since CountOnly, and how many
// distinct frames (action, data type and data) there were.
func (s *Server) Counts() (byID map[string]int, frames int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counter == nil {
		return nil, 0
	}
	byID = make(map[string]int, len(s.counter.byID))
	for id, n := range s.counter.byID {
		byID[id] = n
	}
	return byID, len(s.counter.byFrame)
}

// Total is how many pushes were counted since CountOnly.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counter == nil {
		return 0
	}
	return s.counter.n
}
