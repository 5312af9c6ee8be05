package testkit

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Listening lists the TCP sockets in the LISTEN state that the processes
// pids hold open: each socket's inode, from /proc/PID/fd, looked up in
// /proc/net/tcp and tcp6 (Linux). Each process's listeners are keyed by
// its pid.
func Listening(t testing.TB, pids ...int) map[int][]netip.AddrPort {
	t.Helper()
	listeners := map[string]netip.AddrPort{} // inode -> local address
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := readListeners(file, listeners); err != nil {
			t.Fatal(err)
		}
	}
	out := map[int][]netip.AddrPort{}
	for _, pid := range pids {
		fds, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range fds {
			link, err := os.Readlink(fd)
			if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
				if a, ok := listeners[strings.TrimSuffix(inode, "]")]; ok {
					out[pid] = append(out[pid], a)
				}
			}
		}
	}
	return out
}

// readListeners adds the listening sockets of one /proc/net table.
func readListeners(file string, into map[string]netip.AddrPort) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" { // TCP_LISTEN
			continue
		}
		a, err := procAddr(fields[1])
		if err != nil {
			return fmt.Errorf("%s: %q: %w", file, fields[1], err)
		}
		into[fields[9]] = a
	}
	return sc.Err()
}

// procAddr reads /proc/net's ADDR:PORT: the address in hex, each 32-bit
// word in the machine's byte order (little-endian here), the port in hex.
func procAddr(s string) (netip.AddrPort, error) {
	host, port, ok := strings.Cut(s, ":")
	b, err := hex.DecodeString(host)
	if !ok || err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.AddrPort{}, fmt.Errorf("not ADDR:PORT")
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
}

// Descendants are pid's children, theirs, and so on, from each process's
// parent in /proc/PID/stat.
func Descendants(t testing.TB, pid int) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	children := map[int][]int{}
	for _, stat := range stats {
		b, err := os.ReadFile(stat)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		child, err1 := strconv.Atoi(filepath.Base(filepath.Dir(stat)))
		parent, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil {
			children[parent] = append(children[parent], child)
		}
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}
