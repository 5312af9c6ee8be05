package proto

// RuntimeListenerFD names the variable through which scfws local hands a
// function process the loopback listener to serve SCF's Go1 runtime
// protocol on; its value is the descriptor's number. scf-go-lib binds
// _LAMBDA_SERVER_PORT on every interface, where anyone who reaches the
// machine could invoke the function and read the settings each invoke
// carries. A binary that holds this name serves the listener: that is how
// scfws local tells scfws from other programs.
const RuntimeListenerFD = "SCFWS_RUNTIME_LISTENER_FD"
