package cloudapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const (
	nodeID  = "AKIDnodeTEST000000000000000000000000"
	nodeKey = "node-test-secret-key-0123456789"
)

// nodeSigned is a request signed as the official Node SDK signs it
// (tencentcloud-sdk-nodejs src/common/sign.ts and abstract_client.ts):
// the scope's service is scope, the host signed is signedHost, while the
// Host header is host.
func nodeSigned(t testing.TB, url, host, scope, signedHost, action, version string) *http.Request {
	t.Helper()
	body := []byte(`{"FunctionName":"chat"}`)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	now := time.Now()
	ts, day := fmt.Sprint(now.Unix()), now.UTC().Format(time.DateOnly)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", version)
	req.Header.Set("X-TC-Region", "ap-guangzhou")
	req.Header.Set("X-TC-Timestamp", ts)
	signed := []string{"content-type", "host"}
	canonical := canonicalRequest(http.MethodPost, "", signed, map[string]string{"content-type": "application/json", "host": signedHost}, sha256Hex(body))
	scopeStr := day + "/" + scope + "/tc3_request"
	sig := signature(nodeKey, day, scope, stringToSign(ts, scopeStr, canonical))
	req.Header.Set("Authorization", Algorithm+" Credential="+nodeID+"/"+scopeStr+", SignedHeaders=content-type;host, Signature="+sig)
	return req
}

// nodeServer answers scf's GetFunction and apigateway's DescribeService
// with the service the call was routed to.
func nodeServer() *Server {
	srv := NewServer(Credential{SecretID: nodeID, SecretKey: nodeKey})
	for service, version := range map[string]string{SCFService: SCFVersion, APIGatewayService: APIGatewayVersion} {
		srv.Handle(service, version, map[string]string{SCFService: "GetFunction", APIGatewayService: "DescribeService"}[service],
			func(_ context.Context, r *Request) (any, error) { return map[string]string{"Service": r.Service}, nil })
	}
	return srv
}

func answer(t testing.TB, body []byte) (service, code string) {
	t.Helper()
	var env struct {
		Response struct {
			Service string
			Error   struct{ Code string }
		}
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	return env.Response.Service, env.Response.Error.Code
}

// The official Node SDK configured the plain way for scfws local
// (httpProfile {endpoint: "127.0.0.1:8080", protocol: "http:"}) signs with
// the scope service "127" and the host without its port; from a loopback
// client both are accepted, and the service comes from the action.
func TestNodeSDKSigningOnLoopback(t *testing.T) {
	hs := httptest.NewServer(nodeServer())
	defer hs.Close()
	hostport := strings.TrimPrefix(hs.URL, "http://")
	_, port, _ := net.SplitHostPort(hostport)
	tests := []struct {
		name                     string
		host, scope, signedHost  string
		action, version          string
		wantService, wantErrCode string
	}{
		{"Node: scope 127, host signed without port", hostport, "127", "127.0.0.1", "GetFunction", SCFVersion, "scf", ""},
		{"Node: apigateway action", hostport, "127", "127.0.0.1", "DescribeService", APIGatewayVersion, "apigateway", ""},
		{"Node: localhost endpoint", "localhost:" + port, "localhost:" + port, "localhost", "GetFunction", SCFVersion, "scf", ""},
		{"Go SDK: scope scf, host with port", hostport, "scf", hostport, "GetFunction", SCFVersion, "scf", ""},
		{"scope names another product", hostport, "apigateway", hostport, "GetFunction", SCFVersion, "", CodeNoSuchVersion},
		{"no product answers the action", hostport, "127", "127.0.0.1", "DescribeInstances", "2017-03-12", "", CodeNoSuchProduct},
		{"host signed with another port", hostport, "127", "127.0.0.1:1", "GetFunction", SCFVersion, "", CodeSignatureFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := nodeSigned(t, hs.URL+"/", tt.host, tt.scope, tt.signedHost, tt.action, tt.version)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			service, code := answer(t, buf.Bytes())
			if service != tt.wantService || code != tt.wantErrCode {
				t.Errorf("answer %s; want service %q, error %q", buf.String(), tt.wantService, tt.wantErrCode)
			}
		})
	}
}

// Off loopback the scope must name the product and the signed host is the
// Host as received.
func TestNodeSDKSigningElsewhere(t *testing.T) {
	tests := []struct {
		name, scope, signedHost, wantCode string
	}{
		{"scope 127", "127", "10.0.0.7:8080", CodeNoSuchProduct},
		{"host signed without port", "scf", "10.0.0.7", CodeSignatureFailure},
		{"as the Go SDK signs", "scf", "10.0.0.7:8080", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := nodeSigned(t, "http://10.0.0.7:8080/", "10.0.0.7:8080", tt.scope, tt.signedHost, "GetFunction", SCFVersion)
			req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 8080}))
			rec := httptest.NewRecorder()
			nodeServer().ServeHTTP(rec, req)
			if _, code := answer(t, rec.Body.Bytes()); code != tt.wantCode {
				t.Errorf("answer %s; want error %q", rec.Body.String(), tt.wantCode)
			}
		})
	}
}
