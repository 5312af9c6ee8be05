package router

import (
	"errors"
	"fmt"
	"strings"

	"github.com/scfws/scfws/proto"
)

// DefaultPresenceLimit is PresenceLimit when unset: the size at
// which Pusher limits its presence channels, past which, its authors say,
// a list of who is here is neither cheap nor useful.
const DefaultPresenceLimit = 100

func (o Options) presenceLimit() int {
	if o.PresenceLimit <= 0 {
		return DefaultPresenceLimit
	}
	return o.PresenceLimit
}

// announceJoined tells group's members (but except) that user arrived.
func (c *call) announceJoined(group, user, except string) {
	if !c.d.Options.PresenceEvents || user == "" {
		return
	}
	ev := proto.System{Type: proto.TypeSystem, Event: proto.EventJoined, Group: group, UserID: user}
	if c.ctx.Err() != nil {
		c.untold = append(c.untold, ev)
	} else {
		c.announce(ev, except)
	}
	c.announceLeft(nil) // what its prunes found
}

// announceLeft tells each group's members that its user left, and then the
// departures that telling them revealed (each may prune connections whose
// users thereby left too), all of them while the deadline allows; the rest
// go in the log line, each group and user.
func (c *call) announceLeft(left []proto.Membership) {
	if !c.d.Options.PresenceEvents {
		return
	}
	c.pendingLeft = append(c.pendingLeft, left...)
	if c.announcing {
		return // the announcement under way tells them next
	}
	for len(c.pendingLeft) > 0 {
		m := c.pendingLeft[0]
		c.pendingLeft = c.pendingLeft[1:]
		ev := proto.System{Type: proto.TypeSystem, Event: proto.EventLeft, Group: m.Group, UserID: m.UserID}
		if c.ctx.Err() != nil {
			c.untold = append(c.untold, ev)
			continue
		}
		c.announce(ev, "")
	}
	c.pendingLeft = nil
}

// announce pushes ev to its group's members but except, unless the group
// has more than PresenceLimit connections. An event it could not
// tell every member (the registry failed, or the deadline came first)
// goes in the log line.
func (c *call) announce(ev proto.System, except string) {
	c.announcing = true
	defer func() { c.announcing = false }()
	members, err := c.d.Registry.GroupConns(c.ctx, ev.Group)
	if err != nil {
		c.untold = append(c.untold, ev)
		if c.ctx.Err() == nil {
			c.errs = append(c.errs, fmt.Errorf("presence event: %w", err))
		}
		return
	}
	if len(members) > c.d.Options.presenceLimit() {
		return
	}
	b, _ := frameJSON(ev) // strings always encode
	if s := c.push(without(members, except), proto.DataText, string(b)); s.Skipped > 0 {
		c.untold = append(c.untold, ev)
	}
}

// untoldError lists the presence events an invoke did not tell everyone,
// for its log line: `2 presence events not announced (deadline or
// registry): left "lobby" "alice"; joined "dev" "bob"`.
func untoldError(evs []proto.System) error {
	if len(evs) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d presence events not announced (deadline or registry): ", len(evs))
	for i, ev := range evs {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %q %q", ev.Event, ev.Group, ev.UserID)
	}
	return errors.New(b.String())
}
