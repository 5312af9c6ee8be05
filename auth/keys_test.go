package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewVerifierErrors(t *testing.T) {
	k := testKeys()
	rsaPEM := pemOf(t, &k.rsa1.PublicKey)
	der, err := x509.MarshalPKIXPublicKey(&k.rsa1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(k.ec1)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body := base64.StdEncoding.EncodeToString(der)
	tests := []struct {
		name string
		give Config
		want string // in the error
	}{
		{"nothing configured", Config{}, "neither a secret nor public keys"},
		{"blank keys", Config{PublicKeysPEM: " \n "}, "neither a secret nor public keys"},
		{"short secret", Config{Secret: []byte("hunter2-hunter2-hunter2-hunter2")}, "secret is 31 bytes, at least 32"},
		{"secret is a PEM key", Config{Secret: []byte(rsaPEM)}, "secret looks like a PEM key"},
		{"secret is the keys setting", Config{Secret: []byte(b64(rsaPEM)), PublicKeysPEM: b64(rsaPEM)}, "the secret is the public keys setting"},
		{"garbage", Config{PublicKeysPEM: "not a key at all"}, "neither PEM text"},
		{"base64 of garbage", Config{PublicKeysPEM: b64("not a key")}, "neither PEM text"},
		{"body not base64", Config{PublicKeysPEM: "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n"}, "body is not base64"},
		{"no END", Config{PublicKeysPEM: "-----BEGIN PUBLIC KEY-----\n" + body + "\n"}, "no matching END line"},
		{"END of another type", Config{PublicKeysPEM: "-----BEGIN PUBLIC KEY-----\n" + body + "\n-----END CERTIFICATE-----\n"}, "no matching END line"},
		{"BEGIN line not closed", Config{PublicKeysPEM: "-----BEGIN PUBLIC KEY\n" + body}, "malformed BEGIN line"},
		{"not DER", Config{PublicKeysPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("not der")}))}, "not a valid key"},
		{"private key", Config{PublicKeysPEM: privPEM}, "a private key"},
		{"unknown block type", Config{PublicKeysPEM: string(pem.EncodeToMemory(&pem.Block{Type: "SSH KEY", Bytes: der}))}, "unsupported PEM type"},
		{"RSA 1024", Config{PublicKeysPEM: pemOf(t, &small.PublicKey)}, "RSA key of 1024 bits, at least 2048"},
		{"P-224", Config{PublicKeysPEM: pemOf(t, &p224.PublicKey)}, "unsupported ECDSA curve"},
		{"Ed25519", Config{PublicKeysPEM: pemOf(t, edPub)}, "Ed25519 key, not supported"},
		{"second block bad", Config{PublicKeysPEM: rsaPEM + privPEM}, "PEM block 2 (PRIVATE KEY): a private key"},
		{"too many blocks", Config{PublicKeysPEM: strings.Repeat(rsaPEM, 17)}, "17 PEM blocks, at most 16"},
		{"negative leeway", Config{Secret: secret, Leeway: -time.Second}, "leeway -1s"},
		{"leeway too long", Config{Secret: secret, Leeway: time.Hour}, "leeway 1h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.give)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewVerifier() = %v; want an error with %q", err, tt.want)
			}
			for _, msg := range chain(err) {
				for _, b := range []string{string(tt.give.Secret), body[:40], body[len(body)-40:], "hunter2"} {
					if b != "" && strings.Contains(msg, b) {
						t.Errorf("error %q quotes secret or key material", msg)
					}
				}
			}
		})
	}
}

func TestPublicKeyForms(t *testing.T) {
	k := testKeys()
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa1.PublicKey)}))
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "id.example.com"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(-time.Minute), // expired: only the key counts
	}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.ec1.PublicKey, k.ec1)
	if err != nil {
		t.Fatal(err)
	}
	cert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}))
	tests := []struct {
		name string
		give string
		want []string // Algorithms
	}{
		{"PKCS #1", pkcs1, []string{"PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}},
		{"certificate", cert, []string{"ES256"}},
		{"text around blocks", "current:\n" + cert + "next:\n" + pemOf(t, &k.ec384.PublicKey) + "\n", []string{"ES256", "ES384"}},
		{"no newline between blocks", strings.TrimSpace(pkcs1) + strings.TrimSpace(cert), []string{"ES256", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}},
		{"newlines removed", strings.ReplaceAll(cert, "\n", ""), []string{"ES256"}},
		{"raw base64 without padding", strings.TrimRight(b64(cert), "="), []string{"ES256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(Config{PublicKeysPEM: tt.give, Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Algorithms(); !slices.Equal(got, tt.want) {
				t.Errorf("Algorithms() = %v; want %v", got, tt.want)
			}
		})
	}
}
