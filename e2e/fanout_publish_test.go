package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/internal/testkit/pushtest"
	"github.com/scfws/scfws/proto"
)

// scfws publish -wait, as a backend runs it against scfws local: the send
// is handed off, publish follows the job to its end (progress as plain
// lines on a pipe) and -json prints the job's final state.
func TestPublishWaitFollowsTheJob(t *testing.T) {
	db := mysqltest.New(t)
	ids := seedConnections(t, db, 20_000, 0)
	push := pushtest.Start()
	defer push.Close()
	push.CountOnly()
	env := localDBEnv(db)
	env["PUSH_RATE"] = "4000"
	f := startFanLocal(t, fanSetup{db: db, push: push.URL, timeout: 3 * time.Second}, env)
	cmd := exec.Command(buildBinary(t), "publish", "-endpoint", f.l.base, "-region", "ap-guangzhou", "-function", "scfws",
		"-all", "-wait", "-json", "hi")
	cmd.Env = append(os.Environ(), "TENCENTCLOUD_SECRETID="+f.l.secretID, "TENCENTCLOUD_SECRETKEY="+f.l.secretKey)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("publish -wait: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var job proto.Job
	if err := json.Unmarshal(stdout.Bytes(), &job); err != nil {
		t.Fatalf("publish -wait -json printed %q: %v", stdout.String(), err)
	}
	repeats := checkPushes(t, push, fanCheck{ids: ids, frames: 1, repeats: cutRepeats(len(ids))})
	checkJob(t, &job, len(ids), repeats)
	if job.Finished == nil || job.Shards.Done != job.Shards.Total {
		t.Errorf("job = %+v; want finished, every shard done", job)
	}
	if lines := strings.Count(stderr.String(), "\n"); lines == 0 || strings.Contains(stderr.String(), "\r") {
		t.Errorf("publish's progress on a pipe: %q; want plain lines, no bar", stderr.String())
	}
	t.Logf("progress:\n%s", stderr.String())
}
