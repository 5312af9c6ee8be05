// Package proto declares, once, what both sides of scfws must agree on: the
// connection the registry keeps and the router reads, a backend command and
// its results, the scfws.v1 frames and names, the name rule, the signed
// route's MAC and scfws probe's tags and frames. It is data only and imports
// nothing of ours, as aws-lambda-go keeps its events/ package: the function's
// packages and the clients import it, so a shape cannot drift between them.
package proto

// Conn is a connection as the registry knows it.
type Conn struct {
	ID string
	// V1 is true for a connection that speaks scfws.v1.
	V1 bool
	// UserID is the verified user, "" for an anonymous connection (and for
	// every plain one).
	UserID string
	// Roles are the permissions its token granted.
	Roles []string
	// Info is what the function chose to remember of the handshake (the
	// connecting event's key names, for scfws probe); at most 1 KiB.
	Info string
}

// Membership is a user's presence in a group.
type Membership struct {
	Group  string
	UserID string
}

// UserCount is one user of a group and how many of its connections are in it.
type UserCount struct {
	UserID      string `json:"userId"`
	Connections int    `json:"connections"`
}

// Principal is who a valid connect token says the client is.
type Principal struct {
	// UserID is the token's sub; ValidName holds for it.
	UserID string
	// Groups to join at connect time and Roles (permissions such as
	// "joinLeaveGroup", "sendToGroup.lobby", "sendToUser"): sorted, without
	// duplicates, each a valid name.
	Groups, Roles []string
}
