package emulator

import (
	"net/http"

	"github.com/scfws/scfws/js"
)

// chatScripts are the chat page's JavaScript by path: its own code, and
// scfws-client (js/index.js), the library it is built on, which apps may
// load from here too. Both are served as they are: no build step.
func chatScripts() map[string][]byte {
	chat, err := web.ReadFile("web/chat.js")
	if err != nil {
		panic(err) // embedded with the package: missing only in a broken build
	}
	return map[string][]byte{"/_scfws/chat.js": chat, "/_scfws/scfws-client.js": js.Client}
}

// serveScript answers with an ES module.
func serveScript(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(body)
	}
}
