package proto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// The signed HTTP route: for services outside Tencent Cloud, the function
// bound to an API Gateway HTTP API takes a backend command as a POST body
// signed with PUBLISH_SECRET:
//
//	X-Scfws-Timestamp: <unix seconds>
//	X-Scfws-Signature: sha256=<hex HMAC-SHA256(PUBLISH_SECRET, timestamp + "\n" + body)>
const (
	HeaderTimestamp = "X-Scfws-Timestamp"
	HeaderSignature = "X-Scfws-Signature"
	SignaturePrefix = "sha256="
)

// RouteMAC is the route's MAC of body sent at timestamp (unix seconds).
func RouteMAC(secret []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'\n'})
	m.Write(body)
	return m.Sum(nil)
}

// RouteSignature is the X-Scfws-Signature of body sent at timestamp.
func RouteSignature(secret []byte, timestamp string, body []byte) string {
	return SignaturePrefix + hex.EncodeToString(RouteMAC(secret, timestamp, body))
}
