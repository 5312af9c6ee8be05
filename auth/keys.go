package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

const (
	// minSecretBytes is RFC 7518 section 3.2's floor for HS256: a key at
	// least as long as the hash. An HMAC token is signed and checked with
	// the same secret, so anyone holding one token can guess secrets offline
	// as fast as they can hash; a short or human-chosen secret falls.
	minSecretBytes = 32
	// minRSABits: RSA below 2048 bits is deprecated (NIST SP 800-131A) and
	// within reach of a well-funded attacker.
	minRSABits = 2048
	// maxPublicKeys bounds the keys a token is tried against: a token with a
	// bad signature costs one verification per key of its family.
	maxPublicKeys = 16
)

var (
	hmacAlgs = []string{"HS256", "HS384", "HS512"}
	rsaAlgs  = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)

// checkSecret explains why a shared secret cannot be used.
func checkSecret(secret []byte) error {
	if len(secret) < minSecretBytes {
		return fmt.Errorf("secret is %d bytes, at least %d needed: anyone with one token can test guesses "+
			"offline, so use random bytes (openssl rand -base64 48)", len(secret), minSecretBytes)
	}
	if strings.Contains(string(secret), "-----BEGIN") {
		// A public key used as an HMAC secret lets anyone who has the public
		// key sign tokens: the classic HS/RS confusion.
		return errors.New("secret looks like a PEM key; public keys go in the public keys setting, " +
			"never in the secret (anyone could sign with a public key)")
	}
	return nil
}

// publicKey is one configured key and the algorithms it may verify.
type publicKey struct {
	key  any // *rsa.PublicKey or *ecdsa.PublicKey
	algs []string
}

// parsePublicKeys reads every key in s. SCF console variables often cannot
// hold newlines, so s may be PEM text with real newlines, with literal \n
// escapes, with its newlines turned into spaces, or the standard base64 of
// any of those. Blocks may be PUBLIC KEY (PKIX), RSA PUBLIC KEY (PKCS #1) or
// CERTIFICATE (only its key is used: expiry and chain are not checked, the
// key is pinned). Errors never quote key material.
func parsePublicKeys(s string) ([]publicKey, error) {
	text, err := pemText(s)
	if err != nil {
		return nil, err
	}
	blocks, err := pemBlocks(text)
	if err != nil {
		return nil, err
	}
	if len(blocks) > maxPublicKeys {
		return nil, fmt.Errorf("%d PEM blocks, at most %d", len(blocks), maxPublicKeys)
	}
	keys := make([]publicKey, 0, len(blocks))
	for i, b := range blocks {
		k, err := parseBlock(b)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", i+1, b.label, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// pemText undoes what a single-line setting did to PEM text.
func pemText(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "-----BEGIN ") {
		compact := strings.Join(strings.Fields(s), "")
		raw, err := base64.StdEncoding.DecodeString(compact)
		if err != nil {
			raw, err = base64.RawStdEncoding.DecodeString(compact)
		}
		if err != nil || !strings.Contains(string(raw), "-----BEGIN ") {
			return "", errors.New("neither PEM text (-----BEGIN PUBLIC KEY-----...) nor base64 of it")
		}
		s = string(raw)
	}
	// Literal escapes as a console or a JSON-minded user writes them. A
	// backslash never occurs in PEM, so this cannot damage a real block.
	return strings.NewReplacer(`\r\n`, "\n", `\n`, "\n", `\r`, "\n").Replace(s), nil
}

type pemBlock struct {
	label string
	der   []byte
}

// pemBlocks finds the blocks of text. It reads the base64 body with all
// white space removed, unlike encoding/pem, so that a block whose line breaks
// became spaces (or vanished) still parses. Text outside blocks is ignored,
// as encoding/pem does; PEM headers (encrypted keys) are not supported.
func pemBlocks(text string) ([]pemBlock, error) {
	const begin, dashes = "-----BEGIN ", "-----"
	var blocks []pemBlock
	rest := text
	for {
		i := strings.Index(rest, begin)
		if i < 0 {
			break
		}
		rest = rest[i+len(begin):]
		n := len(blocks) + 1
		j := strings.Index(rest, dashes)
		if j < 0 || j > 64 || strings.ContainsAny(rest[:j], "\r\n") {
			return nil, fmt.Errorf("PEM block %d: malformed BEGIN line", n)
		}
		label := rest[:j]
		rest = rest[j+len(dashes):]
		end := dashes + "END " + label + dashes
		k := strings.Index(rest, end)
		if k < 0 {
			return nil, fmt.Errorf("PEM block %d (%s): no matching END line", n, label)
		}
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(rest[:k]), ""))
		if err != nil || len(der) == 0 {
			return nil, fmt.Errorf("PEM block %d (%s): body is not base64", n, label)
		}
		rest = rest[k+len(end):]
		blocks = append(blocks, pemBlock{label: label, der: der})
	}
	if len(blocks) == 0 {
		return nil, errors.New("no PEM block")
	}
	return blocks, nil
}

func parseBlock(b pemBlock) (publicKey, error) {
	var key any
	var err error
	switch {
	case b.label == "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(b.der)
	case b.label == "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(b.der)
	case b.label == "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(b.der); err == nil {
			key = cert.PublicKey
		}
	case strings.Contains(b.label, "PRIVATE KEY"):
		return publicKey{}, errors.New("a private key: configure the public key only, " +
			"and replace this key pair since the private key has been in a function setting")
	default:
		return publicKey{}, errors.New("unsupported PEM type: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE")
	}
	if err != nil {
		return publicKey{}, fmt.Errorf("not a valid key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return publicKey{}, fmt.Errorf("RSA key of %d bits, at least %d needed", k.N.BitLen(), minRSABits)
		}
		return publicKey{key: k, algs: rsaAlgs}, nil
	case *ecdsa.PublicKey:
		// Each curve verifies its one algorithm (RFC 7518 section 3.4).
		switch k.Curve {
		case elliptic.P256():
			return publicKey{key: k, algs: []string{"ES256"}}, nil
		case elliptic.P384():
			return publicKey{key: k, algs: []string{"ES384"}}, nil
		case elliptic.P521():
			return publicKey{key: k, algs: []string{"ES512"}}, nil
		}
		return publicKey{}, errors.New("unsupported ECDSA curve: want P-256, P-384 or P-521")
	case ed25519.PublicKey:
		return publicKey{}, errors.New("an Ed25519 key, not supported: use an RSA or ECDSA key")
	}
	return publicKey{}, fmt.Errorf("unsupported key type %T: use an RSA or ECDSA key", key)
}
