package router

import "crypto/subtle"

// probe does one measured action for scfws probe. Without PROBE_SECRET, or
// with another secret, it is an unknown request like any other: nothing
// happens and nothing says that probing exists.
func (c *call) probe(conn Conn, req *request) (ack, *refusal) {
	secret := c.d.Options.ProbeSecret
	if secret == "" || subtle.ConstantTimeCompare([]byte(req.Secret), []byte(secret)) != 1 {
		return ack{}, refuse("InvalidMessage", "unknown type %q", "probe")
	}
	_ = conn
	return ack{}, refuse("InvalidMessage", "unknown probe op %q", clip(req.Op))
}
