package cloudapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scfws/scfws/proto"
)

// Algorithm is the only signature method the server accepts: API 3.0's v3
// signature, which every current SDK uses by default.
const Algorithm = "TC3-HMAC-SHA256"

// unsignedPayload is what a client sends in X-TC-Content-SHA256 when it
// signs the hash of this word instead of the body (the SDK's
// ClientProfile.UnsignedPayload).
const unsignedPayload = "UNSIGNED-PAYLOAD"

// authorization is a parsed Authorization header:
// "TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request, SignedHeaders=a;b, Signature=HEX".
type authorization struct {
	SecretID      string
	Date          string // yyyy-mm-dd, UTC
	Service       string
	SignedHeaders []string
	Signature     string
}

// scope is the credential scope, date/service/tc3_request.
func (a authorization) scope() string { return a.Date + "/" + a.Service + "/tc3_request" }

// parseAuthorization reads the header the way the SDK writes it, tolerating
// extra spaces around the separators.
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || alg != Algorithm {
		return a, fmt.Errorf("the algorithm is not %s", Algorithm)
	}
	fields, err := authFields(rest)
	if err != nil {
		return a, err
	}
	if a.SecretID, a.Date, a.Service, err = parseCredential(fields["Credential"]); err != nil {
		return a, err
	}
	if a.SignedHeaders, err = parseSignedHeaders(fields["SignedHeaders"]); err != nil {
		return a, err
	}
	sig := fields["Signature"]
	if len(sig) != sha256.Size*2 {
		return a, errors.New("signature is not 64 hex digits")
	}
	if _, err := hex.DecodeString(sig); err != nil {
		return a, errors.New("signature is not 64 hex digits")
	}
	a.Signature = strings.ToLower(sig)
	return a, nil
}

// authFields splits "k=v, k=v" into its fields, each given once.
func authFields(s string) (map[string]string, error) {
	fields := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("malformed part %q", clip(part))
		}
		if _, dup := fields[k]; dup {
			return nil, fmt.Errorf("%s given twice", clip(k))
		}
		fields[k] = strings.TrimSpace(v)
	}
	return fields, nil
}

// parseCredential reads the Credential field, SecretId/date/service/tc3_request.
func parseCredential(s string) (secretID, date, service string, err error) {
	cred := strings.Split(s, "/")
	if len(cred) != 4 || cred[0] == "" || cred[3] != "tc3_request" {
		return "", "", "", errors.New("credential is not SecretId/date/service/tc3_request")
	}
	if _, err := time.Parse(time.DateOnly, cred[1]); err != nil {
		return "", "", "", fmt.Errorf("credential date %q is not yyyy-mm-dd", clip(cred[1]))
	}
	if !scopeService(cred[2]) {
		return "", "", "", fmt.Errorf("credential service %q is not a service name", clip(cred[2]))
	}
	return cred[0], cred[1], cred[2], nil
}

// parseSignedHeaders reads the SignedHeaders field: lower-case names
// separated by ";", content-type and host among them.
func parseSignedHeaders(s string) ([]string, error) {
	if s == "" {
		return nil, errors.New("no SignedHeaders")
	}
	names := strings.Split(s, ";")
	var host, contentType bool
	for _, name := range names {
		if name == "" || name != strings.ToLower(name) {
			return nil, fmt.Errorf("signed header %q is not a lower-case name", clip(name))
		}
		host = host || name == "host"
		contentType = contentType || name == "content-type"
	}
	if !host || !contentType {
		return nil, errors.New("SignedHeaders must include content-type and host")
	}
	return names, nil
}

// scopeService accepts what an official SDK puts in the credential scope as
// the service: a product's name (scf), or, from the Node SDK given a
// custom endpoint, the endpoint's first DNS label: 127, localhost:8080,
// [::1]:8080.
func scopeService(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && !strings.ContainsRune("-_:[]", c) {
			return false
		}
	}
	return true
}

// validService accepts what Tencent uses as a service (cvm, scf, apigateway).
func validService(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// canonicalRequest is step 1 of the v3 signature. headers maps each signed
// header's lower-case name to its value as received; names are used in the
// order they were signed. Values are lower-cased and trimmed, as the
// signature doc says (the SDK sends only lower-case values, so this agrees
// with what it signs).
func canonicalRequest(method, query string, signed []string, headers map[string]string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(method)
	b.WriteString("\n/\n")
	b.WriteString(query)
	b.WriteString("\n")
	for _, name := range signed {
		b.WriteString(name)
		b.WriteString(":")
		b.WriteString(strings.ToLower(strings.TrimSpace(headers[name])))
		b.WriteString("\n")
	}
	b.WriteString("\n")
	b.WriteString(strings.Join(signed, ";"))
	b.WriteString("\n")
	b.WriteString(payloadHash)
	return b.String()
}

// stringToSign is step 2.
func stringToSign(timestamp, scope, canonical string) string {
	return Algorithm + "\n" + timestamp + "\n" + scope + "\n" + sha256Hex([]byte(canonical))
}

// signature is step 3: the key derived from the SecretKey, the date and the
// service signs the string.
func signature(secretKey, date, service, toSign string) string {
	k := hmacSHA256([]byte("TC3"+secretKey), date)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "tc3_request")
	return hex.EncodeToString(hmacSHA256(k, toSign))
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// clip keeps a piece of a hostile header short in an error message.
func clip(s string) string { return proto.Clip(s, 64) }
