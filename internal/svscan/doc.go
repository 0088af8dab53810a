// Package svscan is the scanner: it turns a directory of service directories
// (daemontools' /service) into supervised, logged services, inside one
// process.
//
// For every subdirectory of the scan directory (names starting with a dot are
// ignored; symbolic links are followed) the scanner runs one supervisor, a
// goroutine running internal/supervise, not a supervise process. A service
// directory starts only once it is complete: ./run is an executable regular
// file, and when log/ exists, log/run is executable or log/multilog exists.
// An incomplete directory is reported once and watched until it is complete,
// so a directory being written (mkdir, then run, then chmod) cannot start
// half-made.
//
// Loggers. A service with log/ gets a logger and one pipe, which the scanner
// creates and holds (both ends) for the life of the pair: the service's
// stdout is the write end, the logger's stdin the read end, so either side
// can die and restart without losing a byte. The logger is either
//
//   - external: log/run, supervised like a service (with log/ as its
//     directory, so svc and svstat work on DIR/log as with daemontools); or
//   - in-process: log/multilog, a text file holding multilog's arguments
//     ("t s1000000 n10 ./main"; # starts a comment line), run inside the
//     process on internal/logd, costing no process. Relative paths in it
//     (log directories, =statusfile) are relative to log/. When both
//     log/run and log/multilog exist, log/run is used.
//
// The stderr of services and loggers, and the stdout of services without log/,
// go to the catch-all (see CatchAll).
//
// Changes are noticed through inotify on the scan directory (and on service
// directories still incomplete), within milliseconds; a full rescan runs
// every Config.RescanInterval (5 s by default) as a fallback, on Rescan, and
// when an administrator writes "a" into DIR/.svscan/control (the svscanctl
// tool does that; the standalone svscan tool also rescans on SIGALRM, as
// daemontools' does). A supervisor that exited on its own (svc -x) is
// started again at the next full rescan while its directory exists, as
// daemontools' svscan does.
//
// A log/ that appears in a running service without one is picked up at the
// next full rescan or at once when the service was still incomplete: the
// service is stopped (its output so far drained to the catch-all) and started
// again with its new logger. A log/ removed from a running service is not
// noticed; remove and re-add the service instead.
//
// A removed service directory (or one replaced by another directory of the
// same name) is stopped: the service first, then its logger drains the pipe
// to its end and stops, then its pipe, watches and goroutines are released.
//
// Shutdown (for init): StopServices stops every service (TERM and CONT, KILL
// after a deadline) and waits; DrainLoggers then lets every logger read its
// pipe to the end, flush and stop, and closes the catch-all last.
//
// Readiness. Every service and external logger gets the same NOTIFY_SOCKET,
// DIR/.svscan/notify (an abstract address when that path is too long or
// .svscan cannot be created), bound once by the scanner: a READY=1 datagram
// is routed to the service whose ./run leads the sender's session (see
// supervise.NotifyHub). With it, a service costs the scanner's process two
// descriptors while ./run runs: its supervisor's control FIFO (also
// supervise/ok and supervise/lock) and the reaper's pidfd of ./run; a
// service with log/ adds its pipe's two ends and, for log/run, the logger's
// two.
//
// Two scanners on one directory would fight over its supervisors, so the
// scanner holds DIR/.svscan/lock (flock) for as long as it runs.
package svscan
