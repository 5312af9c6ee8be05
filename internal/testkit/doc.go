// Package testkit is the tests' shared support, in one place: golden files
// with -update, building a program to run as a process, skipping for a
// missing program (a failure under CI=true), polling until a condition
// holds, free ports, a goroutine-safe buffer, and the listening sockets of
// processes (from /proc). Its subpackages start what
// a test talks to: a throwaway MariaDB (mysqltest), a fake push endpoint
// (pushtest), a TCP proxy that cuts or stalls (faultproxy), and the golden
// events' cases (goldencase).
package testkit
