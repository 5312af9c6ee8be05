package cloudapi

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The worked example of Tencent's "Signature v3" doc
// (https://www.tencentcloud.com/document/api/213/30654): DescribeInstances
// of cvm at 1551113065 with the doc's example key. Every intermediate value
// below is printed in the doc.
const (
	docKey       = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
	docTimestamp = "1551113065"
	docPayload   = `{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}`
	docCanonical = "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n" +
		"35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
	docToSign = "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n" +
		"5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
	docSignature = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
)

func TestCanonicalRequest(t *testing.T) {
	type give struct {
		method, query string
		signed        []string
		headers       map[string]string
		payload       string
	}
	tests := []struct {
		name string
		give give
		want string
	}{
		{
			name: "doc example",
			give: give{"POST", "", []string{"content-type", "host"},
				map[string]string{"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"}, docPayload},
			want: docCanonical,
		},
		{
			name: "values are lower-cased and trimmed, as the doc says",
			give: give{"POST", "", []string{"content-type", "host"},
				map[string]string{"content-type": " Application/JSON; charset=UTF-8 ", "host": "CVM.tencentcloudapi.com"}, docPayload},
			want: docCanonical,
		},
		{
			name: "what SDK 1.0.162 signs against scfws local",
			give: give{"POST", "", []string{"content-type", "host"},
				map[string]string{"content-type": "application/json", "host": "127.0.0.1:9000"}, `{"FunctionName":"chat"}`},
			want: "POST\n/\n\ncontent-type:application/json\nhost:127.0.0.1:9000\n\ncontent-type;host\n" + sha256Hex([]byte(`{"FunctionName":"chat"}`)),
		},
		{
			name: "GET signs the query and an empty payload",
			give: give{"GET", "Limit=10&Offset=0", []string{"content-type", "host"},
				map[string]string{"content-type": "application/x-www-form-urlencoded", "host": "cvm.tencentcloudapi.com"}, ""},
			want: "GET\n/\nLimit=10&Offset=0\ncontent-type:application/x-www-form-urlencoded\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n" +
				"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		},
		{
			name: "a third signed header, as newer SDKs sign x-tc-action",
			give: give{"POST", "", []string{"content-type", "host", "x-tc-action"},
				map[string]string{"content-type": "application/json", "host": "h", "x-tc-action": "Invoke"}, "{}"},
			want: "POST\n/\n\ncontent-type:application/json\nhost:h\nx-tc-action:invoke\n\ncontent-type;host;x-tc-action\n" + sha256Hex([]byte("{}")),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.give
			got := canonicalRequest(g.method, g.query, g.signed, g.headers, sha256Hex([]byte(g.payload)))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("canonicalRequest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSignatureDocExample(t *testing.T) {
	toSign := stringToSign(docTimestamp, "2019-02-25/cvm/tc3_request", docCanonical)
	if toSign != docToSign {
		t.Fatalf("stringToSign = %q; want %q", toSign, docToSign)
	}
	if got := signature(docKey, "2019-02-25", "cvm", toSign); got != docSignature {
		t.Errorf("signature = %s; want %s", got, docSignature)
	}
}

func TestParseAuthorization(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	tests := []struct {
		give    string
		want    authorization
		wantErr string
	}{
		{
			give: "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=" + sig,
			want: authorization{SecretID: "AKIDEXAMPLE", Date: "2019-02-25", Service: "cvm", SignedHeaders: []string{"content-type", "host"}, Signature: sig},
		},
		{
			give: "TC3-HMAC-SHA256 Credential=AKID/2024-01-31/scf/tc3_request,SignedHeaders=content-type;host;x-tc-action,Signature=" + strings.ToUpper(sig),
			want: authorization{SecretID: "AKID", Date: "2024-01-31", Service: "scf", SignedHeaders: []string{"content-type", "host", "x-tc-action"}, Signature: sig},
		},
		{give: "HMAC-SHA256 Credential=a/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=" + sig, wantErr: "algorithm"},
		{give: "TC3-HMAC-SHA256", wantErr: "algorithm"},
		{give: "TC3-HMAC-SHA256 Credential=a/2019-02-25/cvm, SignedHeaders=content-type;host, Signature=" + sig, wantErr: "credential is not"},
		{give: "TC3-HMAC-SHA256 Credential=a/25-02-2019/cvm/tc3_request, SignedHeaders=content-type;host, Signature=" + sig, wantErr: "yyyy-mm-dd"},
		{give: "TC3-HMAC-SHA256 Credential=a/2019-02-25/CVM/tc3_request, SignedHeaders=content-type;host, Signature=" + sig, wantErr: "service"},
		{give: "TC3-HMAC-SHA256 Credential=a/2019-02-25/cvm/tc3_request, SignedHeaders=host, Signature=" + sig, wantErr: "content-type and host"},
		{give: "TC3-HMAC-SHA256 Credential=a/2019-02-25/cvm/tc3_request, SignedHeaders=Content-Type;host, Signature=" + sig, wantErr: "lower-case"},
		{give: "TC3-HMAC-SHA256 Credential=a/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=abc", wantErr: "64 hex"},
		{give: "TC3-HMAC-SHA256 Credential=a/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=" + strings.Repeat("zz", 32), wantErr: "64 hex"},
		{give: "TC3-HMAC-SHA256 Credential=a/2019-02-25/cvm/tc3_request, Credential=b/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=" + sig, wantErr: "twice"},
		{give: "TC3-HMAC-SHA256 Credential=a/2019-02-25/cvm/tc3_request, junk, Signature=" + sig, wantErr: "malformed"},
	}
	for _, tt := range tests {
		got, err := parseAuthorization(tt.give)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseAuthorization(%q) = %v; want an error with %q", tt.give, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseAuthorization(%q) = %v", tt.give, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseAuthorization(%q) (-want +got):\n%s", tt.give, diff)
		}
	}
}

func TestParseFault(t *testing.T) {
	tests := []struct {
		give    string
		want    Fault
		wantErr bool
	}{
		{give: "scf:Invoke=AuthFailure.UnauthorizedOperation", want: Fault{Service: "scf", Action: "Invoke", Code: "AuthFailure.UnauthorizedOperation"}},
		{give: "apigateway:DescribeApi=InternalError", want: Fault{Service: "apigateway", Action: "DescribeApi", Code: "InternalError"}},
		{give: "scf:Invoke", wantErr: true},
		{give: "Invoke=InternalError", wantErr: true},
		{give: "SCF:Invoke=InternalError", wantErr: true},
		{give: "scf:=InternalError", wantErr: true},
		{give: "scf:Invoke=", wantErr: true},
		{give: "scf:Invoke=Auth..Failure", wantErr: true},
		{give: "scf:Invoke=Auth Failure", wantErr: true},
		{give: "scf:1nvoke=InternalError", wantErr: true},
		{give: "apigateway:ReleaseService=FailedOperation.ServiceInOperation:2",
			want: Fault{Service: "apigateway", Action: "ReleaseService", Code: "FailedOperation.ServiceInOperation", Count: 2}},
		{give: "scf:Invoke=InternalError:0", wantErr: true},
		{give: "scf:Invoke=InternalError:x", wantErr: true},
		{give: "scf:Invoke=InternalError:", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseFault(tt.give)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseFault(%q) error = %v; want error %v", tt.give, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseFault(%q) = %+v; want %+v", tt.give, got, tt.want)
		}
		if err == nil && got.String() != tt.give {
			t.Errorf("ParseFault(%q).String() = %q; want the input back", tt.give, got.String())
		}
	}
}

func TestFaultsFlag(t *testing.T) {
	var fs Faults
	for _, v := range []string{"scf:Invoke=InternalError", "scf:ListFunctions=AuthFailure.UnauthorizedOperation, cvm:DescribeInstances=RequestLimitExceeded"} {
		if err := fs.Set(v); err != nil {
			t.Fatalf("Set(%q) = %v", v, err)
		}
	}
	want := "scf:Invoke=InternalError,scf:ListFunctions=AuthFailure.UnauthorizedOperation,cvm:DescribeInstances=RequestLimitExceeded"
	if got := fs.String(); got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	if err := fs.Set("nonsense"); err == nil {
		t.Error("Set(nonsense) = nil; want an error")
	}
}

func TestRequestIDIsAUUID(t *testing.T) {
	id := newRequestID()
	if len(id) != 36 || id[14] != '4' || strings.Count(id, "-") != 4 || !strings.ContainsAny(id[19:20], "89ab") {
		t.Errorf("newRequestID() = %q; want a version 4 UUID", id)
	}
	if newRequestID() == id {
		t.Error("two request IDs are equal")
	}
}
