// Package logd is multilog: daemontools 0.76's logger, as a library that
// reads any io.Reader and as the multilog tool. It writes the same files as
// the original, byte for byte (timestamps aside), so that tai64nlocal, log
// processors and habits keep working.
//
// Use:
//
//	script, err := logd.ParseScript([]string{"t", "s1000000", "n10", "./main"})
//	l, err := logd.New(script, logd.Options{Dir: "/service/x/log", Stderr: w})
//	go func() { err := l.Run(pipeReadEnd) }() // until EOF, Stop or Drain
//	l.Rotate() // SIGALRM: rotate every non-empty current
//	l.Stop()   // SIGTERM: finish the current line, flush, return
//	l.Drain()  // read what is ready without waiting, flush, return
//
// New opens and locks the log directories (flock on DIR/lock, as daemontools
// does, so ichi's multilog and the original exclude each other) and recovers
// what a previous run left; Run returns after writing everything out,
// fsyncing each current and marking it finished (mode 0744), and releasing
// the locks. Close finishes a logger whose Run was never called.
//
// # What it reproduces
//
// The script language: t (first action only), sSIZE (4096..16777215,
// default 99999), nNUM (at least 2, default 10), !PROCESSOR, +PATTERN and
// -PATTERN with multilog's non-backtracking star, e (first 200 bytes to
// stderr), =FILE (first 1000 bytes padded with newlines to 1001), and
// directories starting with '.' or '/'. Unknown actions are ignored, as
// there. Selection, e and = see only the first 1000 bytes of a line (the
// 26-byte timestamp included); the rest of a longer line is copied.
//
// The files: current (0644 while written, 0744 once finished), old files
// @TAI64N.s (0744) and @TAI64N.u (left by a crash), state, newstate,
// previous, processed, lock; the n limit removing the oldest; at start-up a
// finished current is continued and anything else is recovered as multilog
// recovers it. Labels are made as daemontools' (microseconds plus 500 ns).
//
// Where files end: multilog rotates after a write ending in a newline once
// current is within 2000 bytes of the size, and its writes are the flushes
// of a 512-byte buffer before each 1024-byte read. ichi reads and writes in
// 128 KiB chunks but replays that arithmetic on counters, so its files end at
// the same bytes for the same input read in the same pieces (a regular file,
// or a pipe whose writer is ahead).
//
// Processors run as "sh -c PROCESSOR" in the log directory with previous on
// fd 0, processed on fd 1, stderr on fd 2, state on fd 4 and newstate on fd
// 5; one that exits non-zero or crashes runs again on the same input after a
// pause. Inside init, Options.RunProcessor must start it through the reaper.
//
// Failures: every disk operation that fails once the logger runs (disk
// full, I/O error, a processor failing) is reported ("multilog: warning:
// unable to write to ./main/current, pausing: out of disk space") and
// retried after Options.Pause (5 s); no line is dropped and none is written
// twice. Rotated files are fsynced before they are renamed; current is
// fsynced at rotation and at the end.
//
// # Cost
//
// A logger waiting for input holds no buffer: input (128 KiB) and output
// (144 KiB per directory) buffers come from pools while there is work and
// go back before Run waits again, when Run reads an *os.File. A pipe from
// os.Pipe is waited on through Go's poller (no thread); a blocking
// descriptor through poll(2) with an eventfd for Stop and Drain. With any
// other io.Reader the input buffer is held during Read, and Stop and Drain
// act when Read returns. Rotate never needs to wake Run: while Run waits,
// Rotate rotates itself.
//
// # Differences from daemontools
//
// A read error ends the input as in multilog, but ichi's tool also prints a
// warning. A processor's fd 3 is closed (multilog's leaks whatever its
// parent gave it). A processor killed by a signal is reported with the
// signal number. When a write fails part-way, multilog may rotate at a
// different byte than planned; ichi keeps the planned place.
package logd
