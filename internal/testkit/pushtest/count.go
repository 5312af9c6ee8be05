package pushtest

import "crypto/sha256"

// counter counts pushes by ID and by frame, keeping neither.
type counter struct {
	byID    map[string]int
	byFrame map[[sha256.Size]byte]int
	n       int
}

func (c *counter) add(p Push) {
	c.n++
	c.byID[p.SecConnectionID]++
	c.byFrame[sha256.Sum256([]byte(p.Action+"\x00"+p.DataType+"\x00"+p.Data))]++
}

// CountOnly stops keeping pushes (as Discard does) and counts them
// instead, by connection ID and by frame: enough to check that a
// broadcast of millions reached each ID once, with the same bytes.
func (s *Server) CountOnly() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discard = true
	s.counter = &counter{byID: map[string]int{}, byFrame: map[[sha256.Size]byte]int{}}
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
