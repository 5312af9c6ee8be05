// Command badfn is an SCF Go1 function that misbehaves on request, for the
// emulator's tests: a frame "sleep" hangs past any timeout, "panic" panics,
// "exit" kills the process; a handshake offering subprotocol "refuse" is
// refused with errNo 4001. Everything else is accepted.
package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction"
)

type event struct {
	WebSocket struct {
		Action          string `json:"action"`
		SecConnectionID string `json:"secConnectionID"`
		Protocol        string `json:"secWebSocketProtocol"`
		Data            string `json:"data"`
	} `json:"websocket"`
}

type handler struct{}

func (handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var ev event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	ws := ev.WebSocket
	switch {
	case ws.Action == "connecting" && strings.Contains(ws.Protocol, "refuse"):
		return []byte(`{"errNo":4001,"errMsg":"go away"}`), nil
	case ws.Data == "sleep":
		time.Sleep(time.Minute)
	case ws.Data == "panic":
		panic("asked to panic")
	case ws.Data == "exit":
		os.Exit(3)
	}
	return json.Marshal(map[string]any{"errNo": 0, "errMsg": "ok", "pid": os.Getpid(),
		"websocket": map[string]string{"action": ws.Action, "secConnectionID": ws.SecConnectionID}})
}

func main() { cloudfunction.StartHandler(handler{}) }
