// Package js carries scfws-client, the JavaScript client library in this
// folder, so that scfws local serves its chat page the very file npm packs.
package js

import _ "embed"

// Client is index.js, the library's one file (an ES module).
//
//go:embed index.js
var Client []byte
