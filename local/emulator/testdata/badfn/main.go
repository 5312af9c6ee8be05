// Command badfn is an SCF Go1 function that misbehaves on request, for the
// emulator's tests. Frames: "sleep" hangs past any timeout, "panic" panics,
// "exit" kills the process, "nap" takes 100ms, "big" answers 7 MB. A
// handshake offering subprotocol "refuse" is refused with errNo 4001, one
// offering "echo" is refused with the offered subprotocols in errMsg. A
// frame "gather" waits (up to 3s) until four invokes run at once.
// Everything else is accepted; every reply has the process ID and the most
// invokes this process ran at once while it ran.
package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync/atomic"
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

type handler struct {
	running  atomic.Int32
	gathered atomic.Bool // four gather invokes ran at once
}

func (h *handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	n := h.running.Add(1)
	defer h.running.Add(-1)
	var ev event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	ws := ev.WebSocket
	switch {
	case ws.Action == "connecting" && strings.Contains(ws.Protocol, "refuse"):
		return []byte(`{"errNo":4001,"errMsg":"go away"}`), nil
	case ws.Action == "connecting" && strings.Contains(ws.Protocol, "echo"):
		return json.Marshal(map[string]any{"errNo": 4002, "errMsg": "not allowed: " + ws.Protocol})
	case ws.Data == "sleep":
		time.Sleep(time.Minute)
	case ws.Data == "nap":
		time.Sleep(100 * time.Millisecond)
	case ws.Data == "gather":
		if n >= 4 {
			h.gathered.Store(true)
		}
		for deadline := time.Now().Add(3 * time.Second); !h.gathered.Load() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if h.gathered.Load() {
			n = 4
		}
	case ws.Data == "panic":
		panic("asked to panic")
	case ws.Data == "exit":
		os.Exit(3)
	case ws.Data == "big":
		return json.Marshal(map[string]any{"errNo": 0, "errMsg": strings.Repeat("x", 7<<20)})
	}
	return json.Marshal(map[string]any{"errNo": 0, "errMsg": "ok", "pid": os.Getpid(), "inflight": max(n, h.running.Load()),
		"websocket": map[string]string{"action": ws.Action, "secConnectionID": ws.SecConnectionID}})
}

func main() { cloudfunction.StartHandler(&handler{}) }
