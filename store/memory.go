package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/scfws/scfws/proto"
)

// Memory is an in-process registry. It is lost when the process ends, which is
// what local runs want and what SCF, with many short-lived instances, cannot
// use: main never chooses it unless STORE=memory.
type Memory struct {
	idle time.Duration
	now  func() time.Time

	mu     sync.Mutex
	plain  map[string]time.Time
	v1     map[string]*memConn
	groups map[string]map[string]struct{} // group -> connection IDs
	users  map[string]map[string]struct{} // user -> connection IDs

	nonceSet map[string]time.Time // nonce -> expiry
	nonces   nonceHeap            // the same, soonest expiry first

	streams map[string]*memStream // stream key -> its history

	jobs   map[string]*memJob // fan-out jobs by ID
	budget map[int64]int      // pushes taken per budget window
}

type memConn struct {
	c      proto.Conn
	seen   time.Time
	groups map[string]struct{}
}

// NewMemory returns an empty registry. now may be nil (time.Now).
func NewMemory(idle time.Duration, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{idle: idle, now: now, plain: map[string]time.Time{}, v1: map[string]*memConn{},
		groups: map[string]map[string]struct{}{}, users: map[string]map[string]struct{}{}, nonceSet: map[string]time.Time{},
		streams: map[string]*memStream{}, jobs: map[string]*memJob{}, budget: map[int64]int{}}
}

func (m *Memory) alive(t time.Time) bool { return !t.Before(m.now().Add(-m.idle)) }

// Register stores c (an upsert) and, for scfws.v1, joins groups. firsts are
// the groups in which c's user had no other live connection.
func (m *Memory) Register(_ context.Context, c proto.Conn, groups []string) (firsts []string, err error) {
	if err := checkConn(c); err != nil {
		return nil, fmt.Errorf("store connection: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !c.V1 {
		m.plain[c.ID] = m.now()
		return nil, nil
	}
	if old := m.v1[c.ID]; old != nil && old.c.UserID != c.UserID {
		m.dropUser(old)
	}
	mc := m.v1[c.ID]
	if mc == nil {
		mc = &memConn{groups: map[string]struct{}{}}
		m.v1[c.ID] = mc
	}
	mc.c, mc.seen = c, m.now()
	mc.c.Roles = slices.Clone(c.Roles)
	if c.UserID != "" {
		set(m.users, c.UserID)[c.ID] = struct{}{}
	}
	for _, g := range groups {
		if _, in := mc.groups[g]; in {
			continue
		}
		if c.UserID != "" && !m.userIn(g, c.UserID, c.ID) {
			firsts = append(firsts, g)
		}
		mc.groups[g] = struct{}{}
		set(m.groups, g)[c.ID] = struct{}{}
	}
	return firsts, nil
}

func set(m map[string]map[string]struct{}, k string) map[string]struct{} {
	s := m[k]
	if s == nil {
		s = map[string]struct{}{}
		m[k] = s
	}
	return s
}

func (m *Memory) dropUser(mc *memConn) {
	if s := m.users[mc.c.UserID]; s != nil {
		delete(s, mc.c.ID)
		if len(s) == 0 {
			delete(m.users, mc.c.UserID)
		}
	}
}

// userIn reports whether user has a live connection other than except in g.
func (m *Memory) userIn(g, user, except string) bool {
	for id := range m.users[user] {
		if id == except {
			continue
		}
		if mc := m.v1[id]; mc != nil && m.alive(mc.seen) {
			if _, in := mc.groups[g]; in {
				return true
			}
		}
	}
	return false
}

// Touch refreshes id's last-seen time and returns the connection; ok is
// false when the registry does not know id (it never registered, or was
// removed or swept).
func (m *Memory) Touch(_ context.Context, id string) (proto.Conn, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.plain[id]; ok {
		m.plain[id] = m.now()
		return proto.Conn{ID: id}, true, nil
	}
	if mc := m.v1[id]; mc != nil {
		mc.seen = m.now()
		c := mc.c
		c.Roles = slices.Clone(c.Roles)
		return c, true, nil
	}
	return proto.Conn{}, false, nil
}

// Lookup returns id's connection without refreshing it, and whether it is
// live; a dead row's connection comes back too (no row: c.ID is empty).
func (m *Memory) Lookup(_ context.Context, id string) (proto.Conn, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.plain[id]; ok {
		return proto.Conn{ID: id}, m.alive(t), nil
	}
	if mc := m.v1[id]; mc != nil {
		c := mc.c
		c.Roles = slices.Clone(c.Roles)
		return c, m.alive(mc.seen), nil
	}
	return proto.Conn{}, false, nil
}

// TouchAt sets id's last-seen time, registering a plain connection when id
// is unknown; tests use it to plant old rows.
func (m *Memory) TouchAt(id string, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mc := m.v1[id]; mc != nil {
		mc.seen = t
		return
	}
	m.plain[id] = t
}

// Remove forgets ids, their memberships included; unknown ids are not an
// error. left are the groups whose user lost its last live connection.
func (m *Memory) Remove(_ context.Context, ids ...string) ([]proto.Membership, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.remove(ids), nil
}

func (m *Memory) remove(ids []string) []proto.Membership {
	var cands []proto.Membership
	for _, id := range ids {
		delete(m.plain, id)
		mc := m.v1[id]
		if mc == nil {
			continue
		}
		delete(m.v1, id)
		m.dropUser(mc)
		for g := range mc.groups {
			if s := m.groups[g]; s != nil {
				delete(s, id)
				if len(s) == 0 {
					delete(m.groups, g)
				}
			}
			if mc.c.UserID != "" {
				cands = append(cands, proto.Membership{Group: g, UserID: mc.c.UserID})
			}
		}
	}
	var left []proto.Membership
	for _, p := range sortedUnique(cands) {
		if !m.userIn(p.Group, p.UserID, "") {
			left = append(left, p)
		}
	}
	return left
}

// Live returns the plain connections seen within the idle timeout, sorted.
func (m *Memory) Live(_ context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.plain))
	for id, t := range m.plain {
		if m.alive(t) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// LiveV1 returns the scfws.v1 connections seen within the idle timeout.
func (m *Memory) LiveV1(_ context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.v1))
	for id, mc := range m.v1 {
		if m.alive(mc.seen) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Counts counts the live connections, plain and scfws.v1, and the groups
// that have a live member.
func (m *Memory) Counts(_ context.Context) (plain, v1, groups int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.plain {
		if m.alive(t) {
			plain++
		}
	}
	for _, mc := range m.v1 {
		if m.alive(mc.seen) {
			v1++
		}
	}
	for _, members := range m.groups {
		for id := range members {
			if mc := m.v1[id]; mc != nil && m.alive(mc.seen) {
				groups++
				break
			}
		}
	}
	return plain, v1, groups, nil
}

// Sweep deletes the connections older than the idle timeout and says how
// many, and which users thereby left which groups.
func (m *Memory) Sweep(_ context.Context) (int64, []proto.Membership, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for id, t := range m.plain {
		if !m.alive(t) {
			delete(m.plain, id)
			n++
		}
	}
	var dead []string
	graceEnd := m.now().Add(-m.idle - ProbeGrace(m.idle))
	for id, mc := range m.v1 {
		if !m.alive(mc.seen) && (mc.c.Info == "" || mc.seen.Before(graceEnd)) {
			dead = append(dead, id)
		}
	}
	n += int64(len(dead))
	return n, m.remove(dead), nil
}

// Join adds id to group. first is true when id's user had no other live
// connection in it. Joining a group twice is not an error.
func (m *Memory) Join(_ context.Context, id, group string, maxGroups int) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mc := m.v1[id]
	if mc == nil {
		return false, errNotV1
	}
	if _, in := mc.groups[group]; in {
		return false, nil
	}
	if maxGroups > 0 && len(mc.groups) >= maxGroups {
		return false, errTooMany
	}
	first := mc.c.UserID != "" && !m.userIn(group, mc.c.UserID, id)
	mc.groups[group] = struct{}{}
	set(m.groups, group)[id] = struct{}{}
	return first, nil
}

// Leave takes id out of group. last is true when that was its user's last
// live connection in it. Leaving a group one is not in is not an error.
func (m *Memory) Leave(_ context.Context, id, group string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mc := m.v1[id]
	if mc == nil {
		return false, nil
	}
	if _, in := mc.groups[group]; !in {
		return false, nil
	}
	delete(mc.groups, group)
	if s := m.groups[group]; s != nil {
		delete(s, id)
		if len(s) == 0 {
			delete(m.groups, group)
		}
	}
	return mc.c.UserID != "" && !m.userIn(group, mc.c.UserID, id), nil
}

// GroupConns returns group's live member connections, sorted.
func (m *Memory) GroupConns(_ context.Context, group string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.liveV1(m.groups[group]), nil
}

// liveV1 returns the live scfws.v1 connections of set, sorted.
func (m *Memory) liveV1(set map[string]struct{}) []string {
	var ids []string
	for id := range set {
		if mc := m.v1[id]; mc != nil && m.alive(mc.seen) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// GroupUsers lists group's users with their live connection counts, by
// user ID, at most limit of them (truncated then says there are more), and
// how many anonymous connections it has.
func (m *Memory) GroupUsers(_ context.Context, group string, limit int) ([]proto.UserCount, int, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	counts := map[string]int{}
	anonymous := 0
	for id := range m.groups[group] {
		mc := m.v1[id]
		switch {
		case mc == nil || !m.alive(mc.seen):
		case mc.c.UserID == "":
			anonymous++
		default:
			counts[mc.c.UserID]++
		}
	}
	users := make([]proto.UserCount, 0, len(counts))
	for u, n := range counts {
		users = append(users, proto.UserCount{UserID: u, Connections: n})
	}
	sort.Slice(users, func(i, j int) bool { return users[i].UserID < users[j].UserID })
	truncated := limit > 0 && len(users) > limit
	if truncated {
		users = users[:limit]
	}
	return users, anonymous, truncated, nil
}

// UserConns returns user's live connections, sorted.
func (m *Memory) UserConns(_ context.Context, user string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.liveV1(m.users[user]), nil
}

// IsMember reports whether id is a live member of group.
func (m *Memory) IsMember(_ context.Context, id, group string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mc := m.v1[id]
	if mc == nil || !m.alive(mc.seen) {
		return false, nil
	}
	_, in := mc.groups[group]
	return in, nil
}

// All returns every connection ID, live or not, sorted: what a look at the
// tables shows.
func (m *Memory) All() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.plain)+len(m.v1))
	for id := range m.plain {
		ids = append(ids, id)
	}
	for id := range m.v1 {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Memberships returns every (group, connection ID) pair, sorted, live or not.
func (m *Memory) Memberships() [][2]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out [][2]string
	for g, ids := range m.groups {
		for id := range ids {
			out = append(out, [2]string{g, id})
		}
	}
	slices.SortFunc(out, func(a, b [2]string) int {
		if c := compare(a[0], b[0]); c != 0 {
			return c
		}
		return compare(a[1], b[1])
	})
	return out
}
