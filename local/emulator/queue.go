package emulator

import (
	"sync"

	"github.com/coder/websocket"
)

type frame struct {
	typ  websocket.MessageType
	data []byte
}

// outbox holds the frames pushed to a client until its writer has written
// them, bounded in bytes: a client that does not read fills it and is
// closed, instead of growing the emulator without bound. One frame always
// fits, however large, so a big push never closes a client that keeps up.
type outbox struct {
	mu     sync.Mutex
	frames []frame
	bytes  int // queued, and the frame being written
	max    int
	ready  chan struct{} // signals the writer; capacity 1
}

func newOutbox(max int) *outbox {
	return &outbox{max: max, ready: make(chan struct{}, 1)}
}

// put queues f; false when it does not fit.
func (o *outbox) put(f frame) bool {
	o.mu.Lock()
	if o.bytes > 0 && o.bytes+len(f.data) > o.max {
		o.mu.Unlock()
		return false
	}
	o.frames = append(o.frames, f)
	o.bytes += len(f.data)
	o.mu.Unlock()
	select {
	case o.ready <- struct{}{}:
	default:
	}
	return true
}

// take returns the next frame; its bytes count until written.
func (o *outbox) take() (frame, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.frames) == 0 {
		return frame{}, false
	}
	f := o.frames[0]
	o.frames[0] = frame{}
	o.frames = o.frames[1:]
	return f, true
}

// written releases the bytes of a frame take returned.
func (o *outbox) written(f frame) {
	o.mu.Lock()
	o.bytes -= len(f.data)
	o.mu.Unlock()
}

func (o *outbox) buffered() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bytes
}

// inFrame is a client frame on its way to its transmit invoke.
type inFrame struct {
	typ  websocket.MessageType
	data []byte
}

// inbox holds a client's frames from their arrival until their invoke has
// returned, bounded in bytes. The reader keeps reading (so the idle timer
// sees every arrival) until the inbox is full; then it waits, and TCP pushes
// back on the client. One frame always fits.
type inbox struct {
	mu      sync.Mutex
	frames  []inFrame
	bytes   int // queued and being invoked
	max     int
	running int // frames taken, invoke not over
	closed  bool
	changed chan struct{} // closed and replaced on every change
}

func newInbox(max int) *inbox {
	return &inbox{max: max, changed: make(chan struct{})}
}

func (b *inbox) signal() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// tryPut queues f if it fits now.
func (b *inbox) tryPut(f inFrame) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || (b.bytes > 0 && b.bytes+len(f.data) > b.max) {
		return false
	}
	b.frames = append(b.frames, f)
	b.bytes += len(f.data)
	b.signal()
	return true
}

// put waits for room for f; false if stop closes first.
func (b *inbox) put(f inFrame, stop <-chan struct{}) bool {
	for {
		if b.tryPut(f) {
			return true
		}
		b.mu.Lock()
		ch, closed := b.changed, b.closed
		b.mu.Unlock()
		if closed {
			return false
		}
		select {
		case <-ch:
		case <-stop:
			return false
		}
	}
}

// take waits for the next frame; false once the inbox is closed and empty.
func (b *inbox) take() (inFrame, bool) {
	for {
		b.mu.Lock()
		if len(b.frames) > 0 {
			f := b.frames[0]
			b.frames[0] = inFrame{}
			b.frames = b.frames[1:]
			b.running++
			b.signal()
			b.mu.Unlock()
			return f, true
		}
		if b.closed {
			b.mu.Unlock()
			return inFrame{}, false
		}
		ch := b.changed
		b.mu.Unlock()
		<-ch
	}
}

// done ends the invoke of a frame take returned.
func (b *inbox) done(f inFrame) {
	b.mu.Lock()
	b.running--
	b.bytes -= len(f.data)
	b.signal()
	b.mu.Unlock()
}

// close accepts no more frames; those queued can still be taken.
func (b *inbox) close() {
	b.mu.Lock()
	b.closed = true
	b.signal()
	b.mu.Unlock()
}

// drop forgets the queued frames, which will never be invoked.
func (b *inbox) drop() {
	b.mu.Lock()
	for _, f := range b.frames {
		b.bytes -= len(f.data)
	}
	b.frames = nil
	b.signal()
	b.mu.Unlock()
}

// wait returns once the inbox is closed, empty, and no invoke is running.
func (b *inbox) wait() {
	for {
		b.mu.Lock()
		if b.closed && len(b.frames) == 0 && b.running == 0 {
			b.mu.Unlock()
			return
		}
		ch := b.changed
		b.mu.Unlock()
		<-ch
	}
}

// pending is how many frames wait for, or are in, their invoke.
func (b *inbox) pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.frames) + b.running
}
