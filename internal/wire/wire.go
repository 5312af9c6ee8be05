// Package wire joins packages that do not know each other: it gives the
// store's registries and the auth package's verifier to the router, whose
// interfaces use its own types. main and tests that run the real router
// with a real store use it.
package wire

import (
	"context"
	"io"

	"github.com/scfws/scfws/auth"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// Store is what both store registries offer, in the store's types.
type Store interface {
	Register(ctx context.Context, c store.Conn, groups []string) ([]string, error)
	Touch(ctx context.Context, id string) (store.Conn, bool, error)
	Lookup(ctx context.Context, id string) (store.Conn, bool, error)
	Remove(ctx context.Context, ids ...string) ([]store.Membership, error)
	Live(ctx context.Context) ([]string, error)
	LiveV1(ctx context.Context) ([]string, error)
	Sweep(ctx context.Context) (int64, []store.Membership, error)
	Join(ctx context.Context, id, group string, maxGroups int) (bool, error)
	Leave(ctx context.Context, id, group string) (bool, error)
	GroupConns(ctx context.Context, group string) ([]string, error)
	GroupUsers(ctx context.Context, group string, limit int) ([]store.UserCount, int, bool, error)
	UserConns(ctx context.Context, user string) ([]string, error)
	IsMember(ctx context.Context, id, group string) (bool, error)
}

var (
	_ Store           = (*store.MySQL)(nil)
	_ Store           = (*store.Memory)(nil)
	_ router.Registry = registry{}
	_ router.Verifier = verifier{}
)

// Registry is s, for the router.
func Registry(s Store) router.Registry { return registry{s} }

// Verifier is v, for the router.
func Verifier(v *auth.Verifier) router.Verifier { return verifier{v} }

// registry gives a store to the router: the two packages do not know each
// other, so their types meet here. Methods in plain types pass through.
type registry struct{ Store }

// Close releases the store's resources (MySQL's pool), if it holds any.
func (r registry) Close() error {
	if c, ok := r.Store.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (r registry) Register(ctx context.Context, c router.Conn, groups []string) ([]string, error) {
	return r.Store.Register(ctx, store.Conn{ID: c.ID, V1: c.V1, UserID: c.UserID, Roles: c.Roles, Info: c.Info}, groups)
}

func (r registry) Touch(ctx context.Context, id string) (router.Conn, bool, error) {
	c, ok, err := r.Store.Touch(ctx, id)
	return routerConn(c), ok, err
}

func (r registry) Lookup(ctx context.Context, id string) (router.Conn, bool, error) {
	c, ok, err := r.Store.Lookup(ctx, id)
	return routerConn(c), ok, err
}

func (r registry) Remove(ctx context.Context, ids ...string) ([]router.Membership, error) {
	left, err := r.Store.Remove(ctx, ids...)
	return memberships(left), err
}

func (r registry) Sweep(ctx context.Context) (int64, []router.Membership, error) {
	n, left, err := r.Store.Sweep(ctx)
	return n, memberships(left), err
}

func (r registry) GroupUsers(ctx context.Context, group string, limit int) ([]router.UserCount, int, bool, error) {
	users, anonymous, truncated, err := r.Store.GroupUsers(ctx, group, limit)
	out := make([]router.UserCount, len(users))
	for i, u := range users {
		out[i] = router.UserCount{UserID: u.UserID, Connections: u.Connections}
	}
	return out, anonymous, truncated, err
}

func routerConn(c store.Conn) router.Conn {
	return router.Conn{ID: c.ID, V1: c.V1, UserID: c.UserID, Roles: c.Roles, Info: c.Info}
}

func memberships(ms []store.Membership) []router.Membership {
	if len(ms) == 0 {
		return nil
	}
	out := make([]router.Membership, len(ms))
	for i, m := range ms {
		out[i] = router.Membership{Group: m.Group, UserID: m.UserID}
	}
	return out
}

// verifier gives the auth package's token check to the router.
type verifier struct{ v *auth.Verifier }

func (v verifier) Verify(token string) (router.Principal, error) {
	id, err := v.v.Verify(token)
	if err != nil {
		return router.Principal{}, err
	}
	return router.Principal{UserID: id.UserID, Groups: id.Groups, Roles: id.Roles}, nil
}
