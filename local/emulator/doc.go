// Package emulator runs a Tencent API Gateway WebSocket API and the SCF Go1
// runtime on one machine: a Gateway that speaks WebSocket to clients and the
// reverse-push protocol to the function, and a Function that runs any SCF Go1
// binary as a child process over the runtime's real net/rpc protocol.
//
// The Gateway also serves the chat page, the /_scfws/ paths that page and
// local programs use (its settings and state, tokens, and with Metrics the
// Prometheus metrics and the dashboard), and the function's signed HTTP
// route.
package emulator
