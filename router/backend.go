package router

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
)

// command runs a backend command. scfws.v1 connections get a message from
// "server"; plain ones get the data as it is.
func (c *call) command(cmd *Command) (Reply, error) {
	switch cmd.Op {
	case "sendToAll":
		return c.sendToAll(cmd)
	case "sendToGroup":
		if err := argName("group", cmd.Group); err != nil {
			return Reply{}, err
		}
		conns, err := c.d.Registry.GroupConns(c.ctx, cmd.Group)
		if err != nil {
			return Reply{}, fail(CodeRegistry, err, "registry unavailable")
		}
		return c.sendV1(conns, message{From: "server", Group: cmd.Group}, cmd)
	case "sendToUser":
		if err := argName("userId", cmd.UserID); err != nil {
			return Reply{}, err
		}
		conns, err := c.d.Registry.UserConns(c.ctx, cmd.UserID)
		if err != nil {
			return Reply{}, fail(CodeRegistry, err, "registry unavailable")
		}
		return c.sendV1(conns, message{From: "server"}, cmd)
	case "sendToConnection":
		return c.sendToConnection(cmd)
	case "closeConnection":
		if err := argID(cmd.ConnectionID); err != nil {
			return Reply{}, err
		}
		// Closed even when the registry has no live row: the gateway may
		// still hold the connection.
		return c.close([]string{cmd.ConnectionID}, cmd.Reason)
	case "closeUser":
		if err := argName("userId", cmd.UserID); err != nil {
			return Reply{}, err
		}
		conns, err := c.d.Registry.UserConns(c.ctx, cmd.UserID)
		if err != nil {
			return Reply{}, fail(CodeRegistry, err, "registry unavailable")
		}
		return c.close(conns, cmd.Reason)
	case "addToGroup", "removeFromGroup":
		return c.membership(cmd)
	case "listGroup":
		if err := argName("group", cmd.Group); err != nil {
			return Reply{}, err
		}
		users, anonymous, truncated, err := c.d.Registry.GroupUsers(c.ctx, cmd.Group, c.d.Options.listLimit())
		if err != nil {
			return Reply{}, fail(CodeRegistry, err, "registry unavailable")
		}
		if users == nil {
			users = []UserCount{}
		}
		return Reply{GroupList: &GroupList{Group: cmd.Group, Users: users, Anonymous: anonymous, Truncated: truncated}}, nil
	case "listUser":
		if err := argName("userId", cmd.UserID); err != nil {
			return Reply{}, err
		}
		conns, err := c.d.Registry.UserConns(c.ctx, cmd.UserID)
		if err != nil {
			return Reply{}, fail(CodeRegistry, err, "registry unavailable")
		}
		if conns == nil {
			conns = []string{}
		}
		slices.Sort(conns)
		return Reply{UserID: cmd.UserID, Connections: conns}, nil
	case "status":
		// The settings loaded and the registry answers: what scfws local
		// asks at start, and what a health check can ask.
		plain, err := c.d.Registry.Live(c.ctx)
		if err != nil {
			return Reply{}, fail(CodeRegistry, err, "registry unavailable")
		}
		v1, err := c.d.Registry.LiveV1(c.ctx)
		if err != nil {
			return Reply{}, fail(CodeRegistry, err, "registry unavailable")
		}
		return Reply{Connections: map[string]int{"plain": len(plain), "v1": len(v1)}}, nil
	case "":
		return Reply{}, fail(CodeUnknownOp, nil, "missing op")
	default:
		return Reply{}, fail(CodeUnknownOp, nil, "unknown op %q", clip(cmd.Op))
	}
}

func (c *call) sendToAll(cmd *Command) (Reply, error) {
	rawType, rawData, err := c.raw(cmd)
	if err != nil {
		return Reply{}, err
	}
	payload, ref := envelope(message{From: "server"}, cmd.DataType, cmd.Data)
	if ref != nil {
		return Reply{}, fail(CodeBadData, nil, "%s", ref.msg)
	}
	plain, err := c.d.Registry.Live(c.ctx)
	if err != nil {
		return Reply{}, fail(CodeRegistry, err, "registry unavailable")
	}
	v1, err := c.d.Registry.LiveV1(c.ctx)
	if err != nil {
		return Reply{}, fail(CodeRegistry, err, "registry unavailable")
	}
	s := c.push(plain, rawType, rawData)
	s.add(c.push(v1, DataText, payload))
	reply := Reply{Summary: &s}
	c.finishSends(&reply)
	return reply, nil
}

// sendV1 sends to scfws.v1 connections.
func (c *call) sendV1(conns []string, m message, cmd *Command) (Reply, error) {
	if _, _, err := c.raw(cmd); err != nil { // the size and the data's form
		return Reply{}, err
	}
	payload, ref := envelope(m, cmd.DataType, cmd.Data)
	if ref != nil {
		return Reply{}, fail(CodeBadData, nil, "%s", ref.msg)
	}
	s := c.push(conns, DataText, payload)
	reply := Reply{Summary: &s}
	c.finishSends(&reply)
	return reply, nil
}

func (c *call) sendToConnection(cmd *Command) (Reply, error) {
	if err := argID(cmd.ConnectionID); err != nil {
		return Reply{}, err
	}
	rawType, rawData, err := c.raw(cmd)
	if err != nil {
		return Reply{}, err
	}
	conn, live, err := c.d.Registry.Lookup(c.ctx, cmd.ConnectionID)
	if err != nil {
		return Reply{}, fail(CodeRegistry, err, "registry unavailable")
	}
	if !live {
		return Reply{Summary: &Summary{}, ErrMsg: "no such live connection"}, nil
	}
	if conn.V1 {
		return c.sendV1([]string{conn.ID}, message{From: "server"}, cmd)
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
		return Reply{}, fail(CodeBadArgument, nil, "reason over 1024 bytes")
	}
	if reason != "" {
		var v1 []string
		for _, id := range conns {
			if conn, live, err := c.d.Registry.Lookup(c.ctx, id); err == nil && live && conn.V1 {
				v1 = append(v1, id)
			}
		}
		b, _ := frameJSON(struct {
			Type    string `json:"type"`
			Event   string `json:"event"`
			Message string `json:"message"`
		}{"system", "disconnected", reason})
		c.push(v1, DataText, string(b))
	}
	s := c.disconnect(conns)
	reply := Reply{Summary: &s}
	c.finishSends(&reply)
	return reply, nil
}

// membership adds a connection, or every connection of a user, to a
// group, or takes them out.
func (c *call) membership(cmd *Command) (Reply, error) {
	if err := argName("group", cmd.Group); err != nil {
		return Reply{}, err
	}
	var conns []string
	switch {
	case cmd.UserID != "" && cmd.ConnectionID != "":
		return Reply{}, fail(CodeBadArgument, nil, "give userId or connectionId, not both")
	case cmd.ConnectionID != "":
		if err := argID(cmd.ConnectionID); err != nil {
			return Reply{}, err
		}
		conn, live, err := c.d.Registry.Lookup(c.ctx, cmd.ConnectionID)
		switch {
		case err != nil:
			return Reply{}, fail(CodeRegistry, err, "registry unavailable")
		case !live:
			return Reply{}, fail(CodeBadArgument, nil, "no such live connection")
		case !conn.V1:
			return Reply{}, fail(CodeBadArgument, nil, "not a scfws.v1 connection: only those have groups")
		}
		conns = []string{conn.ID}
	case cmd.UserID != "":
		if err := argName("userId", cmd.UserID); err != nil {
			return Reply{}, err
		}
		var err error
		if conns, err = c.d.Registry.UserConns(c.ctx, cmd.UserID); err != nil {
			return Reply{}, fail(CodeRegistry, err, "registry unavailable")
		}
	default:
		return Reply{}, fail(CodeBadArgument, nil, "missing userId or connectionId")
	}
	n := 0
	for _, id := range conns {
		var changed bool
		var err error
		if cmd.Op == "addToGroup" {
			changed, err = c.join(id, cmd.Group)
		} else {
			changed, err = c.leave(id, cmd.Group)
		}
		var tm interface{ TooManyGroups() bool }
		switch {
		case errors.As(err, &tm) && tm.TooManyGroups():
			c.errs = append(c.errs, err)
		case err != nil:
			return Reply{Connections: n}, fail(CodeRegistry, err, "registry unavailable")
		case changed:
			n++
		}
	}
	return Reply{Connections: n}, nil
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
		c.announceLeft([]Membership{{Group: group, UserID: conn.UserID}})
	}
	return true, nil
}

// raw is cmd's data as plain connections get it, checked against the size
// limit.
func (c *call) raw(cmd *Command) (dataType, data string, err error) {
	d := bytes.TrimSpace(cmd.Data)
	size := 0
	switch cmd.DataType {
	case DataText, "":
		s, ok := jsonString(d)
		if !ok {
			return "", "", fail(CodeBadData, nil, "text data must be a JSON string")
		}
		dataType, data, size = DataText, s, len(s)
	case DataJSON:
		var b bytes.Buffer
		if len(d) == 0 || json.Compact(&b, d) != nil {
			return "", "", fail(CodeBadData, nil, "json data must be a JSON value")
		}
		dataType, data, size = DataText, b.String(), b.Len()
	case DataBinary:
		s, ok := jsonString(d)
		if !ok {
			return "", "", fail(CodeBadData, nil, "binary data must be a base64 JSON string")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return "", "", fail(CodeBadData, nil, "binary data is not base64")
		}
		dataType, data, size = DataBinary, s, len(b)
	default:
		return "", "", fail(CodeBadData, nil, "unknown dataType %q: want text, json or binary", clip(cmd.DataType))
	}
	if limit := c.d.Options.maxMessageBytes(); size > limit {
		return "", "", fail(CodeTooLarge, nil, "message of %d bytes: at most %d (MAX_MESSAGE_BYTES)", size, limit)
	}
	return dataType, data, nil
}

func argName(what, s string) error {
	if ref := checkName(what, s); ref != nil {
		return fail(CodeBadArgument, nil, "%s", ref.msg)
	}
	return nil
}

func argID(id string) error {
	if err := checkID(id); err != nil {
		return fail(CodeBadArgument, nil, "connectionId: %s", err.(*failure).msg)
	}
	return nil
}
