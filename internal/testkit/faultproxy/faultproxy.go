// Package faultproxy is a loopback TCP proxy that tests put between the code
// under test and a real server (MariaDB) to make that server go down, hang,
// and come back.
package faultproxy

import (
	"io"
	"net"
	"sync"
)

// Mode is how the proxy treats connections.
type Mode int

const (
	// Up forwards.
	Up Mode = iota
	// Down refuses new connections and cuts the open ones.
	Down
	// Hang accepts connections and forwards nothing, like a server that
	// stopped answering.
	Hang
)

// Proxy forwards 127.0.0.1:Port() to a target address.
type Proxy struct {
	target string
	l      net.Listener
	addr   string

	mu    sync.Mutex
	mode  Mode
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Start listens on a free loopback port.
func Start(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, l: l, addr: l.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept(l)
	return p, nil
}

// Port is the port to connect to.
func (p *Proxy) Port() int { return p.l.Addr().(*net.TCPAddr).Port }

// Set changes the mode. Down and Hang cut the connections open now.
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	if m != Up {
		for c := range p.conns {
			c.Close()
		}
	}
}

// Close stops the proxy and cuts everything.
func (p *Proxy) Close() {
	p.l.Close()
	p.Set(Down)
	p.wg.Wait()
}

func (p *Proxy) accept(l net.Listener) {
	defer p.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		if mode == Down {
			p.mu.Unlock()
			// An immediate reset: what a dead server's port gives.
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c, mode)
	}
}

func (p *Proxy) serve(c net.Conn, mode Mode) {
	defer p.wg.Done()
	defer p.forget(c)
	if mode == Hang {
		_, _ = io.Copy(io.Discard, c) // until cut
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns[s] = struct{}{}
	p.mu.Unlock()
	defer p.forget(s)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
	<-done
	c.Close()
	s.Close()
	<-done
}

func (p *Proxy) forget(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}
