// Package storetest is the contract every connection registry keeps: the
// semantics the router relies on, run against the MySQL and in-memory
// registries, and against any future one (a Redis registry runs it too).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// Subject is one registry under test, with a way to make a connection old
// and to see every stored row.
type Subject struct {
	// Reg is the registry, held to the interface the router consumes.
	Reg router.Registry
	// Idle is the idle timeout the registry was opened with.
	Idle time.Duration
	// Age makes id's last-seen time `by` in the past.
	Age func(t *testing.T, id string, by time.Duration)
	// All returns every connection ID stored, live or not, duplicates
	// included, sorted.
	All func(t *testing.T) []string
	// Memberships returns every stored (group, connection ID), sorted.
	Memberships func(t *testing.T) [][2]string

	// History is the registry's history, nil when it has none (its
	// contract is then not run).
	History router.History
	// AgeStream moves a stream's last message by into the past.
	AgeStream func(t *testing.T, s proto.Stream, by time.Duration)
	// Kept counts the stored messages of every stream.
	Kept func(t *testing.T) int

	// Fanout is the registry's fan-out, nil when it has none (its
	// contract is then not run), and Budget its push budget.
	Fanout router.Fanout
	Budget interface {
		TakePushes(ctx context.Context, window int64, want, limit int) (int, error)
	}
	// AgeJob moves a job's start, expiry and progress by into the past.
	AgeJob func(t *testing.T, job string, by time.Duration)
}

// HostileIDs must each be stored and found exactly: quotes, SQL, unicode,
// and IDs that differ only in case or by a trailing space.
var HostileIDs = []string{
	"xawexasdfewezdfsdfeasdfffa==",
	"ab+/cd==",
	"ABCD+/cd==", // differs from the next only in case: must stay two rows
	"abcd+/cd==",
	"abcd+/cd== ", // and from the one before only by a trailing space
	`it's "quoted"`,
	"'; DROP TABLE ConnectionID_List; --",
	`back\slash %_ ? ??`,
	"连接编号-🙂",
}

// Run runs the contract; newSubject returns an empty registry each call.
func Run(t *testing.T, newSubject func(t *testing.T) Subject) {
	t.Run("plain", func(t *testing.T) { plain(t, newSubject) })
	t.Run("v1", func(t *testing.T) { v1(t, newSubject) })
	t.Run("groups", func(t *testing.T) { groups(t, newSubject) })
	t.Run("presence", func(t *testing.T) { presence(t, newSubject) })
	t.Run("concurrency", func(t *testing.T) { concurrency(t, newSubject) })
	t.Run("nonces", func(t *testing.T) { nonces(t, newSubject) })
	t.Run("history", func(t *testing.T) { history(t, newSubject) })
	t.Run("fanout", func(t *testing.T) { fanout(t, newSubject) })
	t.Run("jobs running", func(t *testing.T) { jobsRunning(t, newSubject(t)) })
}

var ctx = context.Background()

// h turns a call's (value, error) into the value, failing the test on an
// error: of(t).ids(s.Reg.Live(ctx)).
type h struct{ t *testing.T }

func of(t *testing.T) h { return h{t} }

func (h h) ids(v []string, err error) []string { h.t.Helper(); h.no(err); return v }
func (h h) yes(v bool, err error) bool         { h.t.Helper(); h.no(err); return v }
func (h h) left(v []proto.Membership, err error) []proto.Membership {
	h.t.Helper()
	h.no(err)
	return v
}
func (h h) no(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

func sorted(ids []string) []string { return slices.Sorted(slices.Values(ids)) }

func register(t *testing.T, r router.Registry, c proto.Conn, groups ...string) []string {
	t.Helper()
	firsts, err := r.Register(ctx, c, groups)
	of(t).no(err)
	return firsts
}

func v1conn(id, user string) proto.Conn { return proto.Conn{ID: id, V1: true, UserID: user} }

func plain(t *testing.T, newSubject func(t *testing.T) Subject) {
	t.Run("register is an upsert", func(t *testing.T) {
		s := newSubject(t)
		for range 3 {
			register(t, s.Reg, proto.Conn{ID: "a=="})
		}
		if got := s.All(t); !slices.Equal(got, []string{"a=="}) {
			t.Errorf("rows = %q; want one row", got)
		}
	})

	t.Run("touch knows what it registered", func(t *testing.T) {
		s := newSubject(t)
		register(t, s.Reg, proto.Conn{ID: "a=="})
		c, ok, err := s.Reg.Touch(ctx, "a==")
		if err != nil || !ok || c.ID != "a==" || c.V1 || c.UserID != "" {
			t.Errorf("Touch(a==) = %+v, %v, %v; want the plain connection", c, ok, err)
		}
		if _, ok, err := s.Reg.Touch(ctx, "never-seen"); ok || err != nil {
			t.Errorf("Touch(never-seen) = %v, %v; want unknown", ok, err)
		}
		if got := s.All(t); !slices.Equal(got, []string{"a=="}) {
			t.Errorf("rows after touching an unknown ID = %q; want it not stored", got)
		}
	})

	t.Run("hostile ids round-trip", func(t *testing.T) {
		s := newSubject(t)
		for _, id := range HostileIDs {
			register(t, s.Reg, proto.Conn{ID: id})
		}
		if got := sorted(of(t).ids(s.Reg.Live(ctx))); !slices.Equal(got, sorted(HostileIDs)) {
			t.Errorf("Live() = %q; want %q", got, sorted(HostileIDs))
		}
		of(t).left(s.Reg.Remove(ctx, HostileIDs[4:]...))
		if got := sorted(of(t).ids(s.Reg.Live(ctx))); !slices.Equal(got, sorted(HostileIDs[:4])) {
			t.Errorf("after Remove, Live() = %q; want %q", got, sorted(HostileIDs[:4]))
		}
	})

	t.Run("remove unknown and many", func(t *testing.T) {
		s := newSubject(t)
		if _, err := s.Reg.Remove(ctx, "never-seen"); err != nil {
			t.Errorf("Remove(unknown) = %v; want nil", err)
		}
		if _, err := s.Reg.Remove(ctx); err != nil {
			t.Errorf("Remove() = %v; want nil", err)
		}
		var ids []string
		for i := range 1234 {
			ids = append(ids, fmt.Sprintf("id-%04d", i))
		}
		for _, id := range ids {
			register(t, s.Reg, proto.Conn{ID: id})
		}
		of(t).left(s.Reg.Remove(ctx, ids[:1200]...))
		if got := sorted(of(t).ids(s.Reg.Live(ctx))); !slices.Equal(got, ids[1200:]) {
			t.Errorf("Live() after removing 1200 = %d ids; want %d", len(got), len(ids)-1200)
		}
	})

	t.Run("expiry and sweep", func(t *testing.T) {
		s := newSubject(t)
		for _, id := range []string{"fresh", "quiet", "dead"} {
			register(t, s.Reg, proto.Conn{ID: id})
		}
		s.Age(t, "quiet", s.Idle-time.Minute)
		s.Age(t, "dead", s.Idle+time.Minute)
		if got := sorted(of(t).ids(s.Reg.Live(ctx))); !slices.Equal(got, []string{"fresh", "quiet"}) {
			t.Errorf("Live() = %q; want fresh and quiet", got)
		}
		n, _, err := s.Reg.Sweep(ctx)
		if err != nil || n != 1 {
			t.Errorf("Sweep() = %d, %v; want 1, nil", n, err)
		}
		if got := s.All(t); !slices.Equal(got, []string{"fresh", "quiet"}) {
			t.Errorf("rows after Sweep = %q; want fresh and quiet", got)
		}
		// A dead connection that speaks again before the sweep is alive.
		s.Age(t, "quiet", s.Idle+time.Minute)
		if _, ok, err := s.Reg.Touch(ctx, "quiet"); !ok || err != nil {
			t.Fatalf("Touch(quiet) = %v, %v", ok, err)
		}
		if n, _, _ := s.Reg.Sweep(ctx); n != 0 {
			t.Errorf("Sweep() after revival = %d; want 0", n)
		}
	})
}

func v1(t *testing.T, newSubject func(t *testing.T) Subject) {
	t.Run("identity round-trips", func(t *testing.T) {
		s := newSubject(t)
		want := proto.Conn{ID: "v==", V1: true, UserID: "alice", Roles: []string{"sendToUser", "joinLeaveGroup.dev"}, Info: `["requestContext","websocket"]`}
		register(t, s.Reg, want)
		register(t, s.Reg, proto.Conn{ID: "anon==", V1: true})
		got, ok, err := s.Reg.Touch(ctx, "v==")
		if err != nil || !ok || got.ID != want.ID || !got.V1 || got.UserID != want.UserID || !slices.Equal(got.Roles, want.Roles) || got.Info != want.Info {
			t.Errorf("Touch(v==) = %+v, %v, %v; want %+v", got, ok, err, want)
		}
		if got, ok, _ := s.Reg.Touch(ctx, "anon=="); !ok || !got.V1 || got.UserID != "" || len(got.Roles) != 0 {
			t.Errorf("Touch(anon==) = %+v, %v; want an anonymous v1 connection", got, ok)
		}
	})

	t.Run("roles round-trip whole", func(t *testing.T) {
		s := newSubject(t)
		// A token's most: 32 roles of 256 bytes, commas and all.
		roles := []string{"a,b", "sendToGroup.x,y", "sendToUser"}
		for len(roles) < 32 {
			roles = append(roles, strings.Repeat(string(rune('a'+len(roles)%26)), 255)+",")
		}
		register(t, s.Reg, proto.Conn{ID: "r1", V1: true, UserID: "u", Roles: roles})
		if got, ok, err := s.Reg.Touch(ctx, "r1"); err != nil || !ok || !slices.Equal(got.Roles, roles) {
			t.Errorf("Touch(r1) roles = %d %q, %v, %v; want the %d registered", len(got.Roles), got.Roles[:min(3, len(got.Roles))], ok, err, len(roles))
		}
		if c, live, err := s.Reg.Lookup(ctx, "r1"); err != nil || !live || !slices.Equal(c.Roles, roles) {
			t.Errorf("Lookup(r1) roles = %d, %v, %v; want the %d registered", len(c.Roles), live, err, len(roles))
		}
		for _, bad := range [][]string{{"a\nb"}, {""}, append(slices.Clone(roles), roles...)} {
			if _, err := s.Reg.Register(ctx, proto.Conn{ID: "r2", V1: true, Roles: bad}, nil); err == nil {
				t.Errorf("Register with roles of %d bytes, a newline or an empty one = nil; want an error", len(strings.Join(bad, "")))
			}
		}
		if _, ok, _ := s.Reg.Touch(ctx, "r2"); ok {
			t.Errorf("a refused connection was stored")
		}
	})

	t.Run("lookup tells the live from the dead", func(t *testing.T) {
		s := newSubject(t)
		register(t, s.Reg, proto.Conn{ID: "p1"})
		register(t, s.Reg, proto.Conn{ID: "v1", V1: true, UserID: "alice", Roles: []string{"sendToUser"}})
		if c, live, err := s.Reg.Lookup(ctx, "p1"); err != nil || !live || c.V1 {
			t.Errorf("Lookup(p1) = %+v, %v, %v; want the live plain connection", c, live, err)
		}
		if c, live, err := s.Reg.Lookup(ctx, "v1"); err != nil || !live || !c.V1 || c.UserID != "alice" || !slices.Equal(c.Roles, []string{"sendToUser"}) {
			t.Errorf("Lookup(v1) = %+v, %v, %v; want alice's v1 connection", c, live, err)
		}
		for _, id := range []string{"p1", "v1"} {
			s.Age(t, id, s.Idle+time.Minute)
			if c, live, err := s.Reg.Lookup(ctx, id); live || err != nil || c.ID != id || c.V1 != (id == "v1") {
				t.Errorf("Lookup(%s) past the idle timeout = %+v, %v, %v; want its connection, not live", id, c, live, err)
			}
		}
		if c, _, _ := s.Reg.Lookup(ctx, "v1"); c.UserID != "alice" {
			t.Errorf("Lookup(v1) past the idle timeout = %+v; want alice's connection", c)
		}
		if c, live, err := s.Reg.Lookup(ctx, "never-seen"); live || err != nil || c.ID != "" {
			t.Errorf("Lookup(never-seen) = %+v, %v, %v; want no connection", c, live, err)
		}
	})

	t.Run("plain and v1 are listed apart", func(t *testing.T) {
		s := newSubject(t)
		register(t, s.Reg, proto.Conn{ID: "p1"})
		register(t, s.Reg, proto.Conn{ID: "p2"})
		register(t, s.Reg, v1conn("v1", "alice"))
		register(t, s.Reg, v1conn("v2", ""))
		if got := sorted(of(t).ids(s.Reg.Live(ctx))); !slices.Equal(got, []string{"p1", "p2"}) {
			t.Errorf("Live() = %q; want the plain ones", got)
		}
		if got := sorted(of(t).ids(s.Reg.LiveV1(ctx))); !slices.Equal(got, []string{"v1", "v2"}) {
			t.Errorf("LiveV1() = %q; want the v1 ones", got)
		}
		s.Age(t, "v2", s.Idle+time.Minute)
		if got := sorted(of(t).ids(s.Reg.LiveV1(ctx))); !slices.Equal(got, []string{"v1"}) {
			t.Errorf("LiveV1() with v2 expired = %q; want v1", got)
		}
	})

	t.Run("counts are of the live", func(t *testing.T) {
		s := newSubject(t)
		register(t, s.Reg, proto.Conn{ID: "p1"})
		register(t, s.Reg, proto.Conn{ID: "p2"})
		register(t, s.Reg, proto.Conn{ID: "p-dead"})
		register(t, s.Reg, v1conn("a1", "alice"), "lobby", "dev")
		register(t, s.Reg, v1conn("a2", "alice"), "lobby")
		register(t, s.Reg, v1conn("x1", ""))
		register(t, s.Reg, v1conn("d1", "dan"), "lobby", "attic")
		s.Age(t, "p-dead", s.Idle+time.Minute)
		s.Age(t, "d1", s.Idle+time.Minute)
		plain, v1, groups, err := s.Reg.Counts(ctx)
		if err != nil || plain != 2 || v1 != 3 || groups != 2 {
			t.Errorf("Counts() = %d, %d, %d, %v; want 2 plain, 3 v1, 2 groups (attic has only a dead member)", plain, v1, groups, err)
		}
	})

	t.Run("users", func(t *testing.T) {
		s := newSubject(t)
		register(t, s.Reg, v1conn("a1", "alice"))
		register(t, s.Reg, v1conn("a2", "alice"))
		register(t, s.Reg, v1conn("b1", "bob"))
		register(t, s.Reg, v1conn("x1", ""))
		if got := sorted(of(t).ids(s.Reg.UserConns(ctx, "alice"))); !slices.Equal(got, []string{"a1", "a2"}) {
			t.Errorf("UserConns(alice) = %q; want a1, a2", got)
		}
		s.Age(t, "a2", s.Idle+time.Minute)
		if got := of(t).ids(s.Reg.UserConns(ctx, "alice")); !slices.Equal(got, []string{"a1"}) {
			t.Errorf("UserConns(alice) with a2 expired = %q; want a1", got)
		}
		if got := of(t).ids(s.Reg.UserConns(ctx, "nobody")); len(got) != 0 {
			t.Errorf("UserConns(nobody) = %q; want none", got)
		}
		if got := of(t).ids(s.Reg.UserConns(ctx, "")); len(got) != 0 {
			t.Errorf(`UserConns("") = %q; want none: anonymous is nobody`, got)
		}
	})

	t.Run("remove takes memberships", func(t *testing.T) {
		s := newSubject(t)
		register(t, s.Reg, v1conn("a1", "alice"), "lobby", "dev")
		register(t, s.Reg, v1conn("b1", "bob"), "lobby")
		of(t).left(s.Reg.Remove(ctx, "a1"))
		if got := s.Memberships(t); !slices.Equal(got, [][2]string{{"lobby", "b1"}}) {
			t.Errorf("memberships after Remove(a1) = %q; want only b1 in lobby", got)
		}
		if got := s.All(t); !slices.Equal(got, []string{"b1"}) {
			t.Errorf("rows after Remove(a1) = %q; want b1", got)
		}
		if _, ok, _ := s.Reg.Touch(ctx, "a1"); ok {
			t.Errorf("Touch(a1) after Remove found it")
		}
	})

	t.Run("sweep takes dead v1 connections", func(t *testing.T) {
		s := newSubject(t)
		register(t, s.Reg, v1conn("a1", "alice"), "lobby")
		register(t, s.Reg, v1conn("b1", "bob"), "lobby")
		register(t, s.Reg, proto.Conn{ID: "p1"})
		s.Age(t, "a1", s.Idle+time.Minute)
		s.Age(t, "p1", s.Idle+time.Minute)
		n, left, err := s.Reg.Sweep(ctx)
		if err != nil || n != 2 {
			t.Errorf("Sweep() = %d, %v; want 2 (one of each kind)", n, err)
		}
		if !slices.Equal(left, []proto.Membership{{Group: "lobby", UserID: "alice"}}) {
			t.Errorf("Sweep() left = %+v; want alice left lobby", left)
		}
		if got := s.Memberships(t); !slices.Equal(got, [][2]string{{"lobby", "b1"}}) {
			t.Errorf("memberships after Sweep = %q; want only b1 in lobby", got)
		}
	})

	// scfws probe asks whether a closing event removed its dead connection:
	// a sweep leaves such a row (one with Info) for ProbeGrace more.
	t.Run("sweep leaves a probe's dead connection for a grace", func(t *testing.T) {
		s := newSubject(t)
		probe := v1conn("probe1", "")
		probe.Info = `{"top":["websocket"]}`
		register(t, s.Reg, probe)
		register(t, s.Reg, v1conn("a1", "alice"))
		grace := store.ProbeGrace(s.Idle)
		s.Age(t, "probe1", s.Idle+grace/2)
		s.Age(t, "a1", s.Idle+grace/2)
		if n, _, err := s.Reg.Sweep(ctx); err != nil || n != 1 {
			t.Errorf("Sweep() = %d, %v; want 1 (a1, not the probe's)", n, err)
		}
		if c, live, err := s.Reg.Lookup(ctx, "probe1"); err != nil || c.ID != "probe1" || live {
			t.Errorf("Lookup(probe1) within the grace = %+v, %v, %v; want its dead row", c, live, err)
		}
		s.Age(t, "probe1", s.Idle+grace+time.Minute)
		if n, _, err := s.Reg.Sweep(ctx); err != nil || n != 1 {
			t.Errorf("Sweep() after the grace = %d, %v; want 1 (the probe's)", n, err)
		}
		if c, _, err := s.Reg.Lookup(ctx, "probe1"); err != nil || c.ID != "" {
			t.Errorf("Lookup(probe1) after the grace = %+v, %v; want no row", c, err)
		}
	})
}

func groups(t *testing.T, newSubject func(t *testing.T) Subject) {
	t.Run("the group limit holds for joins at once", func(t *testing.T) {
		s := newSubject(t)
		register(t, s.Reg, proto.Conn{ID: "busy", V1: true, UserID: "u"})
		const limit, tries = 3, 16
		var joined, refused atomic.Int32
		var wg sync.WaitGroup
		for i := range tries {
			wg.Go(func() {
				_, err := s.Reg.Join(ctx, "busy", fmt.Sprintf("g%d", i), limit)
				var tm interface{ TooManyGroups() bool }
				switch {
				case err == nil:
					joined.Add(1)
				case errors.As(err, &tm) && tm.TooManyGroups():
					refused.Add(1)
				default:
					t.Errorf("Join(g%d) = %v", i, err)
				}
			})
		}
		wg.Wait()
		in := 0
		for i := range tries {
			if ok, _ := s.Reg.IsMember(ctx, "busy", fmt.Sprintf("g%d", i)); ok {
				in++
			}
		}
		if joined.Load() != limit || refused.Load() != tries-limit || in != limit {
			t.Errorf("%d joins at once with a limit of %d: %d joined, %d refused, member of %d; want %d, %d, %d",
				tries, limit, joined.Load(), refused.Load(), in, limit, tries-limit, limit)
		}
	})

	t.Run("join, leave, members", func(t *testing.T) {
		s := newSubject(t)
		register(t, s.Reg, v1conn("a1", "alice"))
		register(t, s.Reg, v1conn("b1", "bob"), "lobby")
		register(t, s.Reg, v1conn("c1", "carol"), "dev")
		of(t).yes(s.Reg.Join(ctx, "a1", "lobby", 10))
		of(t).yes(s.Reg.Join(ctx, "a1", "lobby", 10)) // twice is fine
		if got := sorted(of(t).ids(s.Reg.GroupConns(ctx, "lobby"))); !slices.Equal(got, []string{"a1", "b1"}) {
			t.Errorf("GroupConns(lobby) = %q; want a1, b1", got)
		}
		if in := of(t).yes(s.Reg.IsMember(ctx, "c1", "lobby")); in {
			t.Errorf("IsMember(c1, lobby) = true")
		}
		if in := of(t).yes(s.Reg.IsMember(ctx, "a1", "lobby")); !in {
			t.Errorf("IsMember(a1, lobby) = false")
		}
		of(t).yes(s.Reg.Leave(ctx, "a1", "lobby"))
		of(t).yes(s.Reg.Leave(ctx, "a1", "lobby")) // twice is fine
		of(t).yes(s.Reg.Leave(ctx, "nobody", "lobby"))
		if got := of(t).ids(s.Reg.GroupConns(ctx, "lobby")); !slices.Equal(got, []string{"b1"}) {
			t.Errorf("GroupConns(lobby) after a1 left = %q; want b1", got)
		}
		s.Age(t, "b1", s.Idle+time.Minute)
		if got := of(t).ids(s.Reg.GroupConns(ctx, "lobby")); len(got) != 0 {
			t.Errorf("GroupConns(lobby) with b1 dead = %q; want none: the dead are never recipients", got)
		}
		if in := of(t).yes(s.Reg.IsMember(ctx, "b1", "lobby")); in {
			t.Errorf("IsMember(b1, lobby) with b1 dead = true")
		}
	})

	t.Run("hostile group names", func(t *testing.T) {
		s := newSubject(t)
		register(t, s.Reg, v1conn("a1", "alice"))
		names := []string{"lobby", "Lobby", "lobby ", "'; DROP TABLE x; --", "组-🙂", `a"b\c`}
		for _, g := range names {
			of(t).yes(s.Reg.Join(ctx, "a1", g, 0))
		}
		for _, g := range names {
			if got := of(t).ids(s.Reg.GroupConns(ctx, g)); !slices.Equal(got, []string{"a1"}) {
				t.Errorf("GroupConns(%q) = %q; want a1", g, got)
			}
		}
		if n := len(s.Memberships(t)); n != len(names) {
			t.Errorf("%d memberships for %d distinct names; want one each", n, len(names))
		}
	})

	t.Run("only v1 connections join", func(t *testing.T) {
		s := newSubject(t)
		register(t, s.Reg, proto.Conn{ID: "p1"})
		for _, id := range []string{"p1", "never-seen"} {
			_, err := s.Reg.Join(ctx, id, "lobby", 10)
			var nf interface{ NotFound() bool }
			if !asNotFound(err, &nf) {
				t.Errorf("Join(%s) = %v; want a NotFound error", id, err)
			}
		}
	})

	t.Run("group limit", func(t *testing.T) {
		s := newSubject(t)
		register(t, s.Reg, v1conn("a1", "alice"), "g0", "g1")
		of(t).yes(s.Reg.Join(ctx, "a1", "g2", 3))
		_, err := s.Reg.Join(ctx, "a1", "g3", 3)
		if tm, ok := err.(interface{ TooManyGroups() bool }); !ok || !tm.TooManyGroups() {
			t.Errorf("fourth Join with a limit of 3 = %v; want a TooManyGroups error", err)
		}
		if _, err := s.Reg.Join(ctx, "a1", "g1", 3); err != nil {
			t.Errorf("Join of a group it is in, at the limit = %v; want nil", err)
		}
	})

	t.Run("users of a group", func(t *testing.T) {
		s := newSubject(t)
		register(t, s.Reg, v1conn("b1", "bob"), "lobby")
		register(t, s.Reg, v1conn("a1", "alice"), "lobby")
		register(t, s.Reg, v1conn("a2", "alice"), "lobby")
		register(t, s.Reg, v1conn("c1", "carol"), "lobby")
		register(t, s.Reg, v1conn("x1", ""), "lobby")
		register(t, s.Reg, v1conn("x2", ""), "lobby")
		register(t, s.Reg, v1conn("d1", "dave"), "dev")
		users, anon, truncated, err := s.Reg.GroupUsers(ctx, "lobby", 10)
		want := []proto.UserCount{{UserID: "alice", Connections: 2}, {UserID: "bob", Connections: 1}, {UserID: "carol", Connections: 1}}
		if err != nil || !slices.Equal(users, want) || anon != 2 || truncated {
			t.Errorf("GroupUsers(lobby) = %+v, %d, %v, %v; want %+v, 2 anonymous, whole", users, anon, truncated, err, want)
		}
		users, _, truncated, _ = s.Reg.GroupUsers(ctx, "lobby", 2)
		if !slices.Equal(users, want[:2]) || !truncated {
			t.Errorf("GroupUsers(lobby, 2) = %+v, %v; want the first two and truncated", users, truncated)
		}
		s.Age(t, "a2", s.Idle+time.Minute)
		users, _, _, _ = s.Reg.GroupUsers(ctx, "lobby", 10)
		if users[0] != (proto.UserCount{UserID: "alice", Connections: 1}) {
			t.Errorf("with a2 dead, alice = %+v; want 1 connection", users[0])
		}
		if users, anon, _, _ := s.Reg.GroupUsers(ctx, "empty", 10); len(users) != 0 || anon != 0 {
			t.Errorf("GroupUsers(empty) = %+v, %d; want none", users, anon)
		}
		// Users with only dead connections neither fill a page nor hide
		// that there is more.
		s.Age(t, "a1", s.Idle+time.Minute)
		s.Age(t, "b1", s.Idle+time.Minute)
		users, _, truncated, _ = s.Reg.GroupUsers(ctx, "lobby", 1)
		if !slices.Equal(users, []proto.UserCount{{UserID: "carol", Connections: 1}}) || truncated {
			t.Errorf("with alice and bob dead, GroupUsers(lobby, 1) = %+v, %v; want carol, whole", users, truncated)
		}
		register(t, s.Reg, v1conn("e1", "erin"), "lobby")
		users, _, truncated, _ = s.Reg.GroupUsers(ctx, "lobby", 1)
		if !slices.Equal(users, []proto.UserCount{{UserID: "carol", Connections: 1}}) || !truncated {
			t.Errorf("with erin too, GroupUsers(lobby, 1) = %+v, %v; want carol, truncated", users, truncated)
		}
	})
}

func asNotFound(err error, nf *interface{ NotFound() bool }) bool {
	v, ok := err.(interface{ NotFound() bool })
	if ok {
		*nf = v
	}
	return ok && v.NotFound()
}

// presence: joined when a user's first connection joins a group, left when
// its last one leaves, by leave, remove or sweep; never for anonymous users.
func presence(t *testing.T, newSubject func(t *testing.T) Subject) {
	s := newSubject(t)
	if firsts := register(t, s.Reg, v1conn("a1", "alice"), "lobby", "dev"); !slices.Equal(sorted(firsts), []string{"dev", "lobby"}) {
		t.Errorf("Register(a1) firsts = %q; want dev, lobby", firsts)
	}
	if firsts := register(t, s.Reg, v1conn("a2", "alice"), "lobby"); len(firsts) != 0 {
		t.Errorf("Register(a2) firsts = %q; want none (alice is in lobby)", firsts)
	}
	if firsts := register(t, s.Reg, v1conn("x1", ""), "lobby"); len(firsts) != 0 {
		t.Errorf("Register(anonymous) firsts = %q; want none", firsts)
	}
	register(t, s.Reg, v1conn("b1", "bob"))
	if first := of(t).yes(s.Reg.Join(ctx, "b1", "lobby", 0)); !first {
		t.Errorf("Join(b1, lobby) first = false; want true")
	}
	register(t, s.Reg, v1conn("b2", "bob"))
	if first := of(t).yes(s.Reg.Join(ctx, "b2", "lobby", 0)); first {
		t.Errorf("Join(b2, lobby) first = true; want false")
	}
	if last := of(t).yes(s.Reg.Leave(ctx, "b2", "lobby")); last {
		t.Errorf("Leave(b2, lobby) last = true; want false (b1 is still in)")
	}
	if last := of(t).yes(s.Reg.Leave(ctx, "b1", "lobby")); !last {
		t.Errorf("Leave(b1, lobby) last = false; want true")
	}
	if last := of(t).yes(s.Reg.Leave(ctx, "x1", "lobby")); last {
		t.Errorf("Leave(anonymous) last = true; want false")
	}
	if left := of(t).left(s.Reg.Remove(ctx, "a1")); !slices.Equal(left, []proto.Membership{{Group: "dev", UserID: "alice"}}) {
		t.Errorf("Remove(a1) left = %+v; want alice left dev only (a2 is in lobby)", left)
	}
	// A dead connection does not count as presence.
	s.Age(t, "a2", s.Idle+time.Minute)
	register(t, s.Reg, v1conn("a3", "alice"))
	if first := of(t).yes(s.Reg.Join(ctx, "a3", "lobby", 0)); !first {
		t.Errorf("Join(a3, lobby) with a2 dead, first = false; want true")
	}
	if left := of(t).left(s.Reg.Remove(ctx, "a3", "never-seen")); !slices.Equal(left, []proto.Membership{{Group: "lobby", UserID: "alice"}}) {
		t.Errorf("Remove(a3) left = %+v; want alice left lobby", left)
	}
}

// concurrency: joins, leaves, frames and closes from many goroutines (as
// from parallel instances) never leave a closed connection visible as a
// recipient.
func concurrency(t *testing.T, newSubject func(t *testing.T) Subject) {
	s := newSubject(t)
	const n = 120
	var wg sync.WaitGroup
	errs := make(chan error, 10*n)
	for i := range n {
		wg.Go(func() {
			id, user := fmt.Sprintf("c-%03d", i), fmt.Sprintf("u-%d", i%7)
			_, err := s.Reg.Register(ctx, v1conn(id, user), []string{"lobby"})
			errs <- err
			var inner sync.WaitGroup
			inner.Go(func() {
				_, err := s.Reg.Join(ctx, id, fmt.Sprint("g", i%3), 0)
				if e, ok := err.(interface{ NotFound() bool }); ok && e.NotFound() {
					err = nil // lost the race with the close: fine
				}
				errs <- err
			})
			inner.Go(func() { _, err := s.Reg.Leave(ctx, id, "lobby"); errs <- err })
			inner.Go(func() { _, _, err := s.Reg.Touch(ctx, id); errs <- err })
			if i%2 == 1 {
				inner.Go(func() { _, err := s.Reg.Remove(ctx, id); errs <- err })
			}
			inner.Wait()
			_, err = s.Reg.Register(ctx, proto.Conn{ID: fmt.Sprintf("p-%03d", i)}, nil)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []string{"lobby", "g0", "g1", "g2"} {
		for _, id := range of(t).ids(s.Reg.GroupConns(ctx, g)) {
			var i int
			if _, err := fmt.Sscanf(id, "c-%03d", &i); err != nil || i%2 == 1 {
				t.Errorf("GroupConns(%s) has %q, a closed connection", g, id)
			}
		}
	}
	if got := len(of(t).ids(s.Reg.LiveV1(ctx))); got != n/2 {
		t.Errorf("LiveV1() has %d; want the %d never closed", got, n/2)
	}
	if got := len(of(t).ids(s.Reg.Live(ctx))); got != n {
		t.Errorf("Live() has %d; want %d plain", got, n)
	}
	// Not even stored: a join racing a close either lands before the
	// close's delete of memberships or inserts nothing.
	for _, m := range s.Memberships(t) {
		var i int
		if _, err := fmt.Sscanf(m[1], "c-%03d", &i); err != nil || i%2 == 1 {
			t.Errorf("membership %q of a closed connection remains", m)
		}
	}
}

// nonces: the signed route's record of the signatures it accepted. A
// nonce is claimed once until it expires, by every caller at once too; an
// expired one is forgotten by a later claim and may be claimed again.
func nonces(t *testing.T, newSubject func(t *testing.T) Subject) {
	// Far from any clock a subject runs on, so that each is plainly live
	// or expired.
	live, expired := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	t.Run("claimed once", func(t *testing.T) {
		s := newSubject(t)
		sig := []byte("\x00\xffsignature of 32 bytes, binary.")
		tests := []struct {
			give []byte
			want bool
		}{
			{sig, true}, {sig, false}, {[]byte(strings.ToUpper(string(sig))), true}, {append(sig, ' '), true}, {sig, false},
		}
		for i, tt := range tests {
			if got := of(t).yes(s.Reg.ClaimNonce(ctx, tt.give, live)); got != tt.want {
				t.Errorf("claim %d of %q = %v; want %v", i, tt.give, got, tt.want)
			}
		}
	})
	t.Run("claimed once by racing callers", func(t *testing.T) {
		s := newSubject(t)
		var firsts atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				first, err := s.Reg.ClaimNonce(ctx, []byte("raced"), live)
				if err != nil {
					t.Error(err)
				}
				if first {
					firsts.Add(1)
				}
			})
		}
		wg.Wait()
		if n := firsts.Load(); n != 1 {
			t.Errorf("%d of 16 racing claims were first; want 1", n)
		}
	})
	t.Run("expired ones are forgotten", func(t *testing.T) {
		s := newSubject(t)
		of(t).yes(s.Reg.ClaimNonce(ctx, []byte("old"), expired))
		of(t).yes(s.Reg.ClaimNonce(ctx, []byte("new"), live))
		if !of(t).yes(s.Reg.ClaimNonce(ctx, []byte("old"), live)) {
			t.Errorf("an expired nonce, claimed again after a sweep, was taken for a replay")
		}
		if of(t).yes(s.Reg.ClaimNonce(ctx, []byte("new"), live)) {
			t.Errorf("a live nonce was claimed twice")
		}
	})
	t.Run("bounds", func(t *testing.T) {
		s := newSubject(t)
		for _, give := range [][]byte{nil, {}, make([]byte, store.MaxNonceBytes+1)} {
			if _, err := s.Reg.ClaimNonce(ctx, give, live); err == nil {
				t.Errorf("ClaimNonce(%d bytes) = nil error; want refused", len(give))
			}
		}
		if !of(t).yes(s.Reg.ClaimNonce(ctx, make([]byte, store.MaxNonceBytes), live)) {
			t.Errorf("ClaimNonce(%d bytes) refused; want claimed", store.MaxNonceBytes)
		}
	})
}
