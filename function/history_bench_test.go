package function

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/internal/testkit/pushtest"
	"github.com/scfws/scfws/router"
)

// historyBench is a router on MariaDB and a push endpoint answering after
// latency, with a scfws.v1 group of members connections.
type historyBench struct {
	db   *mysqltest.DB
	push *pushtest.Server
}

func newHistoryBench(b *testing.B, members int, latency time.Duration) *historyBench {
	db := mysqltest.New(b)
	push := pushtest.Start()
	b.Cleanup(push.Close)
	push.Discard()
	push.SetLatency(latency)
	h := &historyBench{db: db, push: push}
	r := h.router(b, "0")
	invoke(b, r, `{"websocket":{"action":"connecting","secConnectionID":"v1-sender","secWebSocketProtocol":"scfws.v1"}}`)
	db.Exec(b, fmt.Sprintf("INSERT INTO ConnectionID_List_v1 (ID, UserID, LastSeen) SELECT CONCAT('v1-', seq), CONCAT('user-', seq %% 1000), UTC_TIMESTAMP(3) FROM seq_1_to_%d", members))
	db.Exec(b, fmt.Sprintf("INSERT INTO ConnectionID_List_groups (GroupName, ConnectionID, UserID) SELECT 'lobby', CONCAT('v1-', seq), CONCAT('user-', seq %% 1000) FROM seq_1_to_%d", members))
	return h
}

// router is a function with HISTORY_SIZE size.
func (h *historyBench) router(b *testing.B, size string) *router.Router {
	settings := dbEnv(h.db, h.db.Port)
	settings["SENDBACK_HOST"] = h.push.URL
	settings["LOG_LEVEL"] = "error"
	settings["DEFAULT_ROLES"] = "sendToGroup,joinLeaveGroup" // the sender connects without a token
	settings["HISTORY_SIZE"] = size
	return router.New(zap.NewNop(), loaderFrom(config.FromMap(settings), zap.NewNop(), zap.NewAtomicLevel(), openRegistry))
}

// invoke runs event and returns its reply, failing on an errNo.
func invoke(b *testing.B, r *router.Router, event string) router.Reply {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := r.Invoke(ctx, []byte(event))
	var reply router.Reply
	if err := json.Unmarshal(out, &reply); err != nil || reply.ErrNo != 0 {
		b.Fatalf("%s: reply %s", event, out)
	}
	return reply
}

// frame is a data send of a scfws.v1 request from v1-sender.
func frame(req string) string {
	b, _ := json.Marshal(map[string]any{"websocket": map[string]string{"action": "data send", "secConnectionID": "v1-sender", "data": req}})
	return string(b)
}

// BenchmarkHistorySendToGroup10k is a member's sendToGroup to a group of
// 10,000 (MariaDB, a 2ms push endpoint) with history off and on, in one
// run, interleaved so that load from elsewhere hits both alike. With
// history on, a send adds one counter update and one insert, in one
// transaction, whatever the group's size.
func BenchmarkHistorySendToGroup10k(b *testing.B) {
	h := newHistoryBench(b, 10000, 2*time.Millisecond)
	off, on := h.router(b, "0"), h.router(b, "100")
	send := frame(`{"type":"sendToGroup","group":"lobby","noEcho":true,"data":"hello, everyone"}`)
	var took [2]time.Duration
	first := 0
	for b.Loop() {
		for i := range 2 {
			which := (first + i) % 2
			r := []*router.Router{off, on}[which]
			began := time.Now()
			if n := invoke(b, r, send).Delivered; n != 10000 {
				b.Fatalf("delivered %d; want 10,000", n)
			}
			took[which] += time.Since(began)
		}
		first = 1 - first
	}
	b.ReportMetric(float64(took[0].Milliseconds())/float64(b.N), "off-ms")
	b.ReportMetric(float64(took[1].Milliseconds())/float64(b.N), "on-ms")
	b.ReportMetric(float64(took[1])/float64(took[0]), "ratio")
}

// BenchmarkResume100 is a resume that pushes 100 missed messages, one at a
// time, then its ack (MariaDB; a push endpoint that answers at once, and
// one that answers after 2ms).
func BenchmarkResume100(b *testing.B) {
	for _, latency := range []time.Duration{0, 2 * time.Millisecond} {
		b.Run(fmt.Sprint("push-latency-", latency), func(b *testing.B) {
			h := newHistoryBench(b, 1, latency)
			r := h.router(b, "100")
			invoke(b, r, frame(`{"type":"joinGroup","group":"lobby"}`))
			var last router.Reply
			for range 100 {
				last = invoke(b, r, `{"scfws":{"op":"sendToGroup","group":"lobby","dataType":"text","data":"missed"}}`)
			}
			resume := frame(fmt.Sprintf(`{"type":"resume","streams":[{"group":"lobby","offset":%d,"epoch":%q}],"ackId":1}`, *last.Offset-100, *last.Epoch))
			for b.Loop() {
				if n := invoke(b, r, resume).Delivered; n != 100 {
					b.Fatalf("resume pushed %d; want 100", n)
				}
			}
		})
	}
}
