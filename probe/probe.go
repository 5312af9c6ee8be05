// Package probe measures, on a deployed API whose function is scfws with
// PROBE_SECRET set, every gateway behaviour scfws relies on that Tencent
// does not document, and says whether each agrees with what scfws assumes
// and what to change when it does not.
//
// It needs no Tencent credentials and is safe against production: it
// touches only its own connections (and IDs that never existed), and is
// bounded in time (under a minute without Idle) and in traffic (a burst of
// at most 1,000 pushes, frames of at most 4 MiB).
package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/scfws/scfws/proto"
)

// Config says what to probe.
type Config struct {
	// URL is the WebSocket API's address (ws:// or wss://).
	URL string
	// Secret is the function's PROBE_SECRET.
	Secret string
	// Idle also measures the idle timeout's rules, which takes as long as
	// the function's IDLE_TIMEOUT (which must equal the API's backend
	// timeout) and a little more.
	Idle bool
	// Progress, when set, gets a line as each scenario starts.
	Progress io.Writer
	// HTTPClient dials; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Outcome of a scenario.
const (
	Agrees  = "agrees"  // what scfws assumes holds
	Adapt   = "adapt"   // it does not, and a setting adapts scfws (Fix)
	Differs = "differs" // it does not, and no setting helps: report it
	Info    = "info"    // scfws assumes nothing; recorded for reference
	Failed  = "failed"  // the scenario could not run
)

// Scenario is one measurement.
type Scenario struct {
	Name     string         `json:"name"`
	Measured string         `json:"measured"`
	Assumes  string         `json:"assumes"`
	Outcome  string         `json:"outcome"`
	Fix      string         `json:"fix,omitempty"`
	Data     map[string]any `json:"data,omitempty"`
}

// Report is what Run measured.
type Report struct {
	URL       string     `json:"url"`
	Started   time.Time  `json:"started"`
	Seconds   float64    `json:"seconds"`
	Function  Function   `json:"function"`
	Scenarios []Scenario `json:"scenarios"`
}

// Function is the probed function's instance and own settings, as it
// reports them.
type Function struct {
	Instance string `json:"instance"`
	proto.ProbeSettings
}

// Contradicted reports whether a measurement contradicts an assumption no
// setting adapts scfws to.
func (r *Report) Contradicted() bool {
	for _, s := range r.Scenarios {
		if s.Outcome == Differs {
			return true
		}
	}
	return false
}

// ErrNoProbe is Run's error when the function does not answer probe
// requests: PROBE_SECRET unset there, or another value.
var ErrNoProbe = errors.New("the function does not answer probe requests: is PROBE_SECRET set there, to the same value? " +
	"(the answers are pushes: if SENDBACK_HOST is wrong or unreachable from the function, in a VPC say, none arrive either)")

// Budget bounds every scenario but the idle timer together.
const Budget = 55 * time.Second

// Run measures. An error means the probe could not start (no connection,
// no answer to probe requests); a scenario that fails is in the report.
func Run(ctx context.Context, c Config) (*Report, error) {
	if !strings.HasPrefix(c.URL, "ws://") && !strings.HasPrefix(c.URL, "wss://") {
		return nil, fmt.Errorf("url %q: want ws:// or wss://", c.URL)
	}
	if c.Secret == "" {
		return nil, errors.New("the secret is empty: give the function's PROBE_SECRET")
	}
	p := &prober{c: c, report: &Report{URL: c.URL, Started: time.Now()}}
	defer p.closeAll()
	// Every scenario but the idle timer shares one budget: a slow gateway
	// leaves the last ones "could not measure" rather than the probe long.
	quick, cancel := context.WithTimeout(ctx, Budget)
	defer cancel()
	ctx, outer := quick, ctx
	main, err := p.open(ctx, "main")
	if err != nil {
		return nil, err
	}
	who, err := main.askWith(ctx, c.Secret, proto.ProbeWhoami, nil, 10*time.Second)
	if err != nil {
		if errors.Is(err, errNoAnswer) || errors.Is(err, errRefused) {
			return nil, ErrNoProbe
		}
		return nil, err
	}
	p.main, p.mainID = main, who.ConnectionID
	p.report.Function = Function{Instance: who.Instance}
	if who.Config != nil {
		p.report.Function.ProbeSettings = *who.Config
	}
	for _, s := range []struct {
		name string
		run  func(context.Context) Scenario
	}{
		{"handshake reply fields", p.handshake},
		{"what reaches the register function", p.registerKeys},
		{"push to a never-existing ID", p.unknownPush},
		{"push to a connection that just closed", p.closedPush},
		{"closing on a server closing push", p.serverClose},
		{"a non-200 push answer drops the client", p.refusedPush},
		{"frame order and concurrency", p.order},
		{"largest frame", p.largestFrame},
		{"push rate", p.pushRate},
		{"idle timer", p.idle},
	} {
		if s.name == "idle timer" && !c.Idle {
			continue
		}
		if c.Progress != nil {
			fmt.Fprintf(c.Progress, "probe: %s...\n", s.name)
		}
		run := ctx
		if s.name == "idle timer" {
			// As long as the function's idle timeout, and a little more.
			t := time.Duration(p.report.Function.IdleTimeoutMs) * time.Millisecond
			var cancel context.CancelFunc
			// and two minutes for its four connections and lookups.
			run, cancel = context.WithTimeout(outer, t+max(2*time.Second, t/10)+2*time.Minute)
			defer cancel()
		}
		sc := s.run(run)
		sc.Name = s.name
		p.report.Scenarios = append(p.report.Scenarios, sc)
	}
	p.report.Seconds = time.Since(p.report.Started).Seconds()
	return p.report, nil
}

// prober holds the probe's connections.
type prober struct {
	c      Config
	report *Report
	main   *conn
	mainID string

	mu    sync.Mutex
	conns []*conn
}

func (p *prober) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.ws.CloseNow()
	}
}

// result is a ProbeResult frame, or an ack: Error is the result's text or
// the ack's error object, as it came.
type result struct {
	proto.ProbeResult
	Success bool            `json:"success"`
	Error   json.RawMessage `json:"error"`
}

// conn is one probe connection that reads in the background.
type conn struct {
	ws       *websocket.Conn
	protocol string
	header   http.Header

	mu      sync.Mutex
	nextAck uint64
	waiting map[uint64]chan result
	other   []json.RawMessage // frames that answer nothing (bursts, pushes)
	closed  chan struct{}
	err     error // why it closed
}

var (
	errNoAnswer = errors.New("no answer")
	errRefused  = errors.New("refused")
)

// open connects as a scfws.v1 client.
func (p *prober) open(ctx context.Context, what string, extra ...string) (*conn, error) {
	return p.dial(ctx, what, append([]string{proto.Subprotocol, proto.ProbeConnection + proto.ProbeConnectionTag(p.c.Secret)}, extra...))
}

func (p *prober) dial(ctx context.Context, what string, protocols []string) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, p.c.URL, &websocket.DialOptions{Subprotocols: protocols, HTTPClient: p.c.HTTPClient})
	if err != nil {
		status := ""
		if resp != nil {
			status = fmt.Sprintf(" (HTTP %d)", resp.StatusCode)
		}
		return nil, fmt.Errorf("connect (%s)%s: %w", what, status, err)
	}
	ws.SetReadLimit(8 << 20)
	c := &conn{ws: ws, protocol: ws.Subprotocol(), header: resp.Header, waiting: map[uint64]chan result{}, closed: make(chan struct{})}
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
	go c.read()
	return c, nil
}

func (c *conn) read() {
	defer close(c.closed)
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		var r result
		if json.Unmarshal(data, &r) == nil && (r.Type == proto.TypeProbeResult || r.Type == proto.TypeAck) && r.AckID != nil && *r.AckID != 0 {
			c.mu.Lock()
			ch := c.waiting[*r.AckID]
			delete(c.waiting, *r.AckID)
			c.mu.Unlock()
			if ch != nil {
				ch <- r
				continue
			}
		}
		c.mu.Lock()
		c.other = append(c.other, data)
		c.mu.Unlock()
	}
}

// send writes a probe request and returns the channel its answer comes on.
func (c *conn) send(ctx context.Context, secret, op string, args *proto.ProbeArgs, pad int) (chan result, error) {
	c.mu.Lock()
	c.nextAck++
	id := c.nextAck
	ch := make(chan result, 1)
	c.waiting[id] = ch
	c.mu.Unlock()
	req := struct {
		proto.Request
		Pad string `json:"pad,omitempty"` // makes the frame size bytes larger
	}{Request: proto.Request{Type: proto.TypeProbe, Secret: secret, Op: op, AckID: &id}, Pad: strings.Repeat("x", pad)}
	if args != nil {
		req.Args, _ = json.Marshal(args) // strings and numbers: always encodes
	}
	b, _ := json.Marshal(req)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := c.ws.Write(wctx, websocket.MessageText, b); err != nil {
		return nil, err
	}
	return ch, nil
}

// askWith sends a probe request with secret and waits for its result.
func (c *conn) askWith(ctx context.Context, secret, op string, args *proto.ProbeArgs, wait time.Duration) (result, error) {
	ch, err := c.send(ctx, secret, op, args, 0)
	if err != nil {
		return result{}, err
	}
	return c.await(ctx, ch, wait)
}

func (c *conn) await(ctx context.Context, ch chan result, wait time.Duration) (result, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.Type == proto.TypeAck && !r.Success {
			// The function refused the request: without PROBE_SECRET (or
			// with another), a probe is an unknown request like any other.
			return r, fmt.Errorf("%w: %s", errRefused, r.Error)
		}
		return r, nil
	case <-c.closed:
		return result{}, fmt.Errorf("the connection closed: %v", c.closeErr())
	case <-t.C:
		return result{}, errNoAnswer
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
}

func (c *conn) closeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// closedWithin reports whether the connection closes within d, and how.
func (c *conn) closedWithin(ctx context.Context, d time.Duration) (bool, string) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.closed:
		return true, describeClose(c.closeErr())
	case <-t.C:
		return false, ""
	case <-ctx.Done():
		return false, ""
	}
}

func describeClose(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		return fmt.Sprintf("close frame %d", code)
	}
	return "dropped without a close frame (1006)"
}

func (c *conn) others() []json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]json.RawMessage(nil), c.other...)
}

func (p *prober) ask(ctx context.Context, op string, args *proto.ProbeArgs, wait time.Duration) (result, error) {
	return p.main.askWith(ctx, p.c.Secret, op, args, wait)
}

// second opens another connection and learns its ID.
func (p *prober) second(ctx context.Context, what string) (*conn, string, error) {
	c, err := p.open(ctx, what)
	if err != nil {
		return nil, "", err
	}
	r, err := c.askWith(ctx, p.c.Secret, proto.ProbeWhoami, nil, 10*time.Second)
	if err != nil {
		return nil, "", fmt.Errorf("whoami on the %s connection: %w", what, err)
	}
	return c, r.ConnectionID, nil
}

// failed is a scenario that could not run.
func failed(err error) Scenario {
	return Scenario{Outcome: Failed, Measured: "could not measure: " + err.Error()}
}
