// Package store keeps the registry of live WebSocket connections.
//
// A plain connection is one row (secConnectionID, time its client last sent
// a frame) in the table of Tencent's tutorial. A connection that speaks the
// scfws.v1 subprotocol is a row of its own kind, with its user and roles,
// and belongs to groups. A connection older than the idle timeout belongs to
// a client the gateway has certainly dropped: it is never a recipient, and
// it is swept.
//
// Two implementations share these semantics, checked by one contract suite
// (package storetest): MySQL (TencentDB in production) and Memory (local
// runs and tests). Neither logs; errors are wrapped and returned.
package store

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scfws/scfws/proto"
)

// ProbeGrace is how long past the idle timeout a sweep leaves the row of a
// connection with Info (one scfws probe opened): the probe asks whether the
// gateway's closing removed it, a tenth of the timeout and a little after
// the row went dead, and a sweep must not answer for it.
func ProbeGrace(idle time.Duration) time.Duration { return max(time.Minute, idle/2) }

// Limits on what a row holds; the router enforces tighter ones. Roles are
// stored joined by newlines: a token's 32 roles of 256 bytes fit.
const (
	MaxUserIDBytes = 128
	MaxGroupBytes  = 128
	MaxRolesBytes  = 8448
	MaxInfoBytes   = 1024
)

// checkConn refuses a connection its row could not hold as given, rather
// than have MySQL truncate or split it.
func checkConn(c proto.Conn) error {
	switch {
	case len(c.UserID) > MaxUserIDBytes:
		return fmt.Errorf("user ID of %d bytes, at most %d", len(c.UserID), MaxUserIDBytes)
	case len(c.Info) > MaxInfoBytes:
		return fmt.Errorf("info of %d bytes, at most %d", len(c.Info), MaxInfoBytes)
	}
	n := 0
	for _, r := range c.Roles {
		if r == "" || strings.Contains(r, rolesSep) {
			return fmt.Errorf("role %q: empty or holding a newline", r)
		}
		n += len(r) + len(rolesSep)
	}
	if n > MaxRolesBytes+len(rolesSep) {
		return fmt.Errorf("roles of %d bytes, at most %d", n-len(rolesSep), MaxRolesBytes)
	}
	return nil
}

// rolesSep joins roles in a row: roles are printable, so never hold it.
const rolesSep = "\n"

func joinRoles(roles []string) string { return strings.Join(roles, rolesSep) }

func splitRoles(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, rolesSep)
}

// Error is a registry refusal the caller may show: a connection that is not
// a registered scfws.v1 connection, or one at its group limit.
type Error struct {
	msg      string
	notFound bool
	tooMany  bool
	missing  bool
}

func (e *Error) Error() string { return e.msg }

// NotFound is true when the connection is unknown, or plain where scfws.v1
// was needed.
func (e *Error) NotFound() bool { return e.notFound }

// TooManyGroups is true when the connection is in its maximum of groups.
func (e *Error) TooManyGroups() bool { return e.tooMany }

// Unavailable is true when the scfws.v1 tables do not exist and may not be
// created.
func (e *Error) Unavailable() bool { return e.missing }

var (
	errNotV1    = &Error{msg: "not a registered scfws.v1 connection", notFound: true}
	errTooMany  = &Error{msg: "in too many groups", tooMany: true}
	errNoTables = &Error{msg: "the scfws.v1 tables do not exist (DB_AUTO_MIGRATE is off)", missing: true}
)

// sortedUnique sorts memberships by group and user, without repeats.
func sortedUnique(ms []proto.Membership) []proto.Membership {
	slices.SortFunc(ms, func(a, b proto.Membership) int {
		if a.Group != b.Group {
			return compare(a.Group, b.Group)
		}
		return compare(a.UserID, b.UserID)
	})
	return slices.Compact(ms)
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
