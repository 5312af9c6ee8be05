package testkit

import (
	"archive/zip"
	"bytes"
	"io/fs"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond every 20 ms until it holds, and fails t with what
// when it does not within timeout. It stands for an event the test cannot
// wait on directly; prefer a channel where there is one.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort is a loopback TCP port nobody listened on a moment ago. Another
// process may take it before the caller binds it: use it only where the
// port must be chosen before something else binds it.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr is FreePort as "127.0.0.1:PORT".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// SyncBuffer is a bytes.Buffer that a process's output and the test may
// use at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ZipFile is one entry of Zip.
type ZipFile struct {
	Name string
	Mode fs.FileMode // 0: the zip's default
	Data []byte
	// Stored keeps Data as it is, not deflated: for data that would not
	// shrink, which the race detector takes seconds to deflate.
	Stored bool
}

// Zip is a zip archive of files, deflated unless Stored.
func Zip(t testing.TB, files ...ZipFile) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.Name, Method: zip.Deflate}
		if f.Stored {
			h.Method = zip.Store
		}
		if f.Mode != 0 {
			h.SetMode(f.Mode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(f.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
