package emulator

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/scfws/scfws/js"
)

// The chat page loads its code and scfws-client as ES modules from the
// gateway: the library is js/index.js as npm packs it, unchanged.
func TestChatPageScripts(t *testing.T) {
	g := startGateway(t, newFakeFn(), Options{})
	get := func(path string) (string, []byte) {
		t.Helper()
		resp, err := http.Get(g.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d, %v", path, resp.StatusCode, err)
		}
		return resp.Header.Get("Content-Type"), body
	}
	tests := []struct {
		give     string
		wantType string
		want     string // a part of the body
	}{
		{give: "/", wantType: "text/html; charset=utf-8", want: `<script type="module" src="/_scfws/chat.js"></script>`},
		{give: "/_scfws/chat.js", wantType: "text/javascript; charset=utf-8", want: `import { Client, Unauthorized } from "/_scfws/scfws-client.js";`},
		{give: "/_scfws/scfws-client.js", wantType: "text/javascript; charset=utf-8", want: "export class Client {"},
	}
	for _, tt := range tests {
		typ, body := get(tt.give)
		if typ != tt.wantType || !strings.Contains(string(body), tt.want) {
			t.Errorf("GET %s: %s with %d bytes; want %s containing %q", tt.give, typ, len(body), tt.wantType, tt.want)
		}
	}
	if _, body := get("/_scfws/scfws-client.js"); !bytes.Equal(body, js.Client) {
		t.Errorf("GET /_scfws/scfws-client.js is not js/index.js")
	}
}
