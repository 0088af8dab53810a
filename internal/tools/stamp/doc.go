// Package stamp holds the tools that put TAI64N labels on lines and read
// them back: tai64n, which prefixes each line of its input with the label of
// the moment the line arrived, and tai64nlocal, which turns labels at the
// start of lines into local time ("2006-01-02 15:04:05.000000000").
//
// Both copy standard input to standard output in large blocks and allocate
// nothing per line. They behave as daemontools 0.76's do, including at the
// edges: tai64n stamps a last line without a newline and leaves it without
// one; tai64nlocal reads any number of lower-case hex digits after an '@' at
// the start of a line (only the last 24 count), drops a label cut short by
// the end of input, and prints the year of dates before year 0 as the C
// original does. Where the original crashes (a label whose date localtime(3)
// cannot represent, such as "@" alone) tai64nlocal copies the label through
// unchanged instead.
//
// Local time follows the TZ variable as the C library reads it (see
// Location), not as Go's time package does, so that POSIX zone strings such
// as "CET-1CEST,M3.5.0,M10.5.0/3" work.
package stamp
