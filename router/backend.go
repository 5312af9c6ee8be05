package router

import (
	"context"
	"slices"
	"strings"

	"github.com/scfws/scfws/proto"
)

// command runs a backend command. scfws.v1 connections get a message from
// "server"; plain ones get the data as it is.
func (c *call) command(cmd *proto.Command) (Reply, error) {
	switch cmd.Op {
	case proto.OpSendToAll:
		return c.sendToAll(cmd)
	case proto.OpSendToGroup:
		return c.sendToGroup(cmd)
	case proto.OpSendToUser:
		return c.sendToUser(cmd)
	case proto.OpSendToConnection:
		return c.sendToConnection(cmd)
	case proto.OpCloseConnection:
		if err := argID(cmd.ConnectionID); err != nil {
			return Reply{}, err
		}
		// Closed even when the registry has no live row: the gateway may
		// still hold the connection.
		return c.close([]string{cmd.ConnectionID}, cmd.Reason)
	case proto.OpCloseUser:
		return c.closeUser(cmd)
	case proto.OpAddToGroup, proto.OpRemoveFromGroup:
		return c.membership(cmd)
	case proto.OpListGroup:
		return c.listGroup(cmd)
	case proto.OpListUser:
		return c.listUser(cmd)
	case proto.OpHistory:
		return c.history(cmd)
	case proto.OpStatus:
		return c.status()
	case proto.OpShard:
		return c.shard(cmd)
	case proto.OpJob:
		return c.job(cmd)
	case "":
		return Reply{}, fail(proto.CodeUnknownOp, nil, "missing op")
	default:
		return Reply{}, fail(proto.CodeUnknownOp, nil, "unknown op %q", clip(cmd.Op))
	}
}

// errRegistry is a registry failure, for the reply.
func errRegistry(err error) error { return fail(proto.CodeRegistry, err, "registry unavailable") }

func (c *call) sendToGroup(cmd *proto.Command) (Reply, error) {
	if err := argName("group", cmd.Group); err != nil {
		return Reply{}, err
	}
	msg, stream := proto.Message{From: proto.FromServer, Group: cmd.Group}, &proto.Stream{Group: cmd.Group}
	why := c.fanoutOff()
	if why == "" {
		return c.fanV1(proto.Target{Kind: proto.TargetGroup, Group: cmd.Group}, msg, cmd, stream)
	}
	conns, err := c.d.Registry.GroupConns(c.ctx, cmd.Group)
	if err != nil {
		return Reply{}, errRegistry(err)
	}
	reply, err := c.sendV1(conns, msg, cmd, stream)
	offReply(&reply, why)
	return reply, err
}

func (c *call) sendToUser(cmd *proto.Command) (Reply, error) {
	msg, stream := proto.Message{From: proto.FromServer}, &proto.Stream{UserID: cmd.UserID}
	why := c.fanoutOff()
	if why == "" {
		if err := argName("userId", cmd.UserID); err != nil {
			return Reply{}, err
		}
		return c.fanV1(proto.Target{Kind: proto.TargetUser, UserID: cmd.UserID}, msg, cmd, stream)
	}
	conns, err := c.userConns(cmd)
	if err != nil {
		return Reply{}, err
	}
	reply, err := c.sendV1(conns, msg, cmd, stream)
	offReply(&reply, why)
	return reply, err
}

func (c *call) closeUser(cmd *proto.Command) (Reply, error) {
	conns, err := c.userConns(cmd)
	if err != nil {
		return Reply{}, err
	}
	return c.close(conns, cmd.Reason)
}

// userConns are the live connections of the command's user.
func (c *call) userConns(cmd *proto.Command) ([]string, error) {
	if err := argName("userId", cmd.UserID); err != nil {
		return nil, err
	}
	conns, err := c.d.Registry.UserConns(c.ctx, cmd.UserID)
	if err != nil {
		return nil, errRegistry(err)
	}
	return conns, nil
}

func (c *call) listGroup(cmd *proto.Command) (Reply, error) {
	if err := argName("group", cmd.Group); err != nil {
		return Reply{}, err
	}
	users, anonymous, truncated, err := c.d.Registry.GroupUsers(c.ctx, cmd.Group, c.d.Options.listLimit())
	if err != nil {
		return Reply{}, errRegistry(err)
	}
	if users == nil {
		users = []proto.UserCount{}
	}
	return Reply{GroupList: &proto.GroupList{Group: cmd.Group, Users: users, Anonymous: anonymous, Truncated: truncated}}, nil
}

func (c *call) listUser(cmd *proto.Command) (Reply, error) {
	conns, err := c.userConns(cmd)
	if err != nil {
		return Reply{}, err
	}
	if conns == nil {
		conns = []string{}
	}
	slices.Sort(conns)
	return Reply{UserID: cmd.UserID, Connections: conns}, nil
}

// status says the settings loaded and the registry answers, with its
// counts: what scfws local asks at start, and what a health check or a
// dashboard can ask. A feature a bad
// setting turned off is named in errMsg and off, with errNo 0: connections
// work.
func (c *call) status() (Reply, error) {
	plain, v1, groups, err := c.d.Registry.Counts(c.ctx)
	if err != nil {
		return Reply{}, errRegistry(err)
	}
	r := Reply{Connections: map[string]int{"plain": plain, "v1": v1}, Counts: &Counts{Groups: groups}}
	if jc, ok := c.d.Fanout.(JobCounter); ok {
		n, err := jc.JobsRunning(c.ctx)
		if err != nil {
			return Reply{}, errRegistry(err)
		}
		r.JobsRunning = &n
	}
	if off := c.d.Options.Off; len(off) > 0 {
		r.ErrMsg, r.Off = "ok, but a setting is refused: "+strings.Join(off, "; "), off
	}
	return r, nil
}

// JobCounter is the part of a Fanout that status asks: how many jobs are
// in progress (the job op's running ones). A Fanout without it leaves
// jobsRunning out of status.
type JobCounter interface {
	JobsRunning(ctx context.Context) (int, error)
}

// live lists the live plain and scfws.v1 connections.
func (c *call) live() (plain, v1 []string, err error) {
	if plain, err = c.d.Registry.Live(c.ctx); err != nil {
		return nil, nil, errRegistry(err)
	}
	if v1, err = c.d.Registry.LiveV1(c.ctx); err != nil {
		return nil, nil, errRegistry(err)
	}
	return plain, v1, nil
}

func (c *call) sendToAll(cmd *proto.Command) (Reply, error) {
	rawType, rawData, err := c.raw(cmd)
	if err != nil {
		return Reply{}, err
	}
	m, ref := envelope(proto.Message{From: proto.FromServer}, cmd.DataType, cmd.Data)
	if ref != nil {
		return Reply{}, fail(proto.CodeBadData, nil, "%s", ref.msg)
	}
	why := c.fanoutOff()
	if why == "" {
		s, h, err := c.fan([]*part{
			{target: proto.Target{Kind: proto.TargetPlain}, frame: proto.Frame{DataType: rawType, Data: rawData}},
			{target: proto.Target{Kind: proto.TargetV1}, frame: proto.Frame{DataType: proto.DataText, Data: m.frame}},
		})
		reply := Reply{Summary: &s, ID: m.id, Handoff: h}
		c.finishSends(&reply)
		return reply, err
	}
	plain, v1, err := c.live()
	if err != nil {
		return Reply{}, err
	}
	s := c.push(plain, rawType, rawData)
	addSummary(&s, c.push(v1, proto.DataText, m.frame))
	reply := Reply{Summary: &s, ID: m.id}
	offReply(&reply, why)
	c.finishSends(&reply)
	return reply, nil
}

// acceptV1 checks a backend's message for scfws.v1 connections, gives it
// its id and frame, and records it in stream when there is one: once,
// before any push.
func (c *call) acceptV1(msg proto.Message, cmd *proto.Command, stream *proto.Stream) (outgoing, error) {
	if _, _, err := c.raw(cmd); err != nil { // the size and the data's form
		return outgoing{}, err
	}
	m, ref := envelope(msg, cmd.DataType, cmd.Data)
	if ref != nil {
		return outgoing{}, fail(proto.CodeBadData, nil, "%s", ref.msg)
	}
	if stream != nil {
		if err := c.record(*stream, &m); err != nil {
			return outgoing{}, errRegistry(err)
		}
	}
	return m, nil
}

// sendV1 sends to scfws.v1 connections, recording the message in stream
// when there is one.
func (c *call) sendV1(conns []string, msg proto.Message, cmd *proto.Command, stream *proto.Stream) (Reply, error) {
	m, err := c.acceptV1(msg, cmd, stream)
	if err != nil {
		return Reply{}, err
	}
	s := c.push(conns, proto.DataText, m.frame)
	return c.v1Reply(m, &s, nil), nil
}

// fanV1 is sendV1 to a target's connections, read a page at a time and
// handed off when they will not all be pushed in time.
func (c *call) fanV1(t proto.Target, msg proto.Message, cmd *proto.Command, stream *proto.Stream) (Reply, error) {
	m, err := c.acceptV1(msg, cmd, stream)
	if err != nil {
		return Reply{}, err
	}
	s, h, err := c.fan([]*part{{target: t, frame: proto.Frame{DataType: proto.DataText, Data: m.frame}}})
	return c.v1Reply(m, &s, h), err
}

// v1Reply answers a backend's send of m.
func (c *call) v1Reply(m outgoing, s *proto.Summary, h *proto.Handoff) Reply {
	reply := Reply{Summary: s, ID: m.id, Handoff: h}
	if m.pos != nil {
		reply.Offset, reply.Epoch = &m.pos.Offset, &m.pos.Epoch
	}
	c.finishSends(&reply)
	return reply
}

func (c *call) sendToConnection(cmd *proto.Command) (Reply, error) {
	if err := argID(cmd.ConnectionID); err != nil {
		return Reply{}, err
	}
	rawType, rawData, err := c.raw(cmd)
	if err != nil {
		return Reply{}, err
	}
	conn, live, err := c.d.Registry.Lookup(c.ctx, cmd.ConnectionID)
	if err != nil {
		return Reply{}, errRegistry(err)
	}
	if !live {
		return Reply{Summary: &proto.Summary{}, ErrMsg: "no such live connection"}, nil
	}
	if conn.V1 {
		return c.sendV1([]string{conn.ID}, proto.Message{From: proto.FromServer}, cmd, nil)
	}
	s := c.push([]string{conn.ID}, rawType, rawData)
	reply := Reply{Summary: &s}
	c.finishSends(&reply)
	return reply, nil
}

// close disconnects conns, telling scfws.v1 ones why first when a reason
// is given.
func (c *call) close(conns []string, reason string) (Reply, error) {
	if len(reason) > 1024 {
		return Reply{}, fail(proto.CodeBadArgument, nil, "reason over 1024 bytes")
	}
	if reason != "" {
		var v1 []string
		for _, id := range conns {
			if conn, live, err := c.d.Registry.Lookup(c.ctx, id); err == nil && live && conn.V1 {
				v1 = append(v1, id)
			}
		}
		b, _ := frameJSON(proto.System{Type: proto.TypeSystem, Event: proto.EventDisconnected, Message: reason})
		c.push(v1, proto.DataText, string(b))
	}
	s := c.disconnect(conns)
	reply := Reply{Summary: &s}
	c.finishSends(&reply)
	return reply, nil
}

// membership adds a connection, or every connection of a user, to a
// group, or takes them out.
func (c *call) membership(cmd *proto.Command) (Reply, error) {
	if err := argName("group", cmd.Group); err != nil {
		return Reply{}, err
	}
	conns, err := c.members(cmd)
	if err != nil {
		return Reply{}, err
	}
	n := 0
	for _, id := range conns {
		var changed bool
		if cmd.Op == proto.OpAddToGroup {
			changed, err = c.join(id, cmd.Group)
		} else {
			changed, err = c.leave(id, cmd.Group)
		}
		switch {
		case tooManyGroups(err):
			c.errs = append(c.errs, err)
		case err != nil:
			return Reply{Connections: n}, errRegistry(err)
		case changed:
			n++
		}
	}
	return Reply{Connections: n}, nil
}

// members are the connections a membership command names: one live
// scfws.v1 connection, or a user's.
func (c *call) members(cmd *proto.Command) ([]string, error) {
	switch {
	case cmd.UserID != "" && cmd.ConnectionID != "":
		return nil, fail(proto.CodeBadArgument, nil, "give userId or connectionId, not both")
	case cmd.ConnectionID != "":
		if err := argID(cmd.ConnectionID); err != nil {
			return nil, err
		}
		conn, live, err := c.d.Registry.Lookup(c.ctx, cmd.ConnectionID)
		switch {
		case err != nil:
			return nil, errRegistry(err)
		case !live:
			return nil, fail(proto.CodeBadArgument, nil, "no such live connection")
		case !conn.V1:
			return nil, fail(proto.CodeBadArgument, nil, "not a scfws.v1 connection: only those have groups")
		}
		return []string{conn.ID}, nil
	case cmd.UserID != "":
		return c.userConns(cmd)
	default:
		return nil, fail(proto.CodeBadArgument, nil, "missing userId or connectionId")
	}
}

// join adds id to group, announcing its user when it arrives; changed is
// false when id was in it already.
func (c *call) join(id, group string) (bool, error) {
	in, err := c.d.Registry.IsMember(c.ctx, id, group)
	if err != nil || in {
		return false, err
	}
	first, err := c.d.Registry.Join(c.ctx, id, group, c.d.Options.maxGroups())
	if err != nil {
		return false, err
	}
	if first {
		if conn, live, err := c.d.Registry.Lookup(c.ctx, id); err == nil && live {
			c.announceJoined(group, conn.UserID, id)
		}
	}
	return true, nil
}

func (c *call) leave(id, group string) (bool, error) {
	in, err := c.d.Registry.IsMember(c.ctx, id, group)
	if err != nil || !in {
		return false, err
	}
	conn, _, err := c.d.Registry.Lookup(c.ctx, id)
	if err != nil {
		return false, err
	}
	last, err := c.d.Registry.Leave(c.ctx, id, group)
	if err != nil {
		return false, err
	}
	if last {
		c.announceLeft([]proto.Membership{{Group: group, UserID: conn.UserID}})
	}
	return true, nil
}

// raw is cmd's data as plain connections get it, checked against the size
// limit.
func (c *call) raw(cmd *proto.Command) (dataType, data string, err error) {
	dataType, data, size, problem := checkData(cmd.DataType, cmd.Data)
	if problem != "" {
		return "", "", fail(proto.CodeBadData, nil, "%s", problem)
	}
	if limit := c.d.Options.maxMessageBytes(); size > limit {
		return "", "", fail(proto.CodeTooLarge, nil, "message of %d bytes: at most %d (MAX_MESSAGE_BYTES)", size, limit)
	}
	return dataType, data, nil
}

func argName(what, s string) error {
	if ref := checkName(what, s); ref != nil {
		return fail(proto.CodeBadArgument, nil, "%s", ref.msg)
	}
	return nil
}

func argID(id string) error {
	if err := checkID(id); err != nil {
		return fail(proto.CodeBadArgument, nil, "connectionId: %s", err.(*failure).msg)
	}
	return nil
}
