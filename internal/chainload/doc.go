// Package chainload holds daemontools 0.76's chain-loading tools: setuidgid,
// envuidgid, envdir, softlimit, setlock and pgrphack. Each changes one thing
// about the process (its account, environment, resource limits, a lock it
// holds, its session) and then replaces itself with the program named by the
// rest of its arguments, so no Go process remains once the program runs.
//
// Options, messages, exit codes (100 for bad usage, 111 for a failure, and
// envdir's 111 even for bad usage) and the way the next program is found and
// given its environment are the originals', down to the order of the
// environment variables. The program is looked up in the PATH of the
// environment the tool was started with, "/bin:/usr/bin" when PATH is unset,
// an empty element meaning the current directory; a candidate that exists
// but cannot be run is remembered and its error reported if no later one
// runs.
//
// This package does not start processes and does not wait for them: it only
// execs. Its envdir reader, ReadEnvDir, is also the supervisor's for a
// service's env/ directory, so both read a directory the same way. Accounts come from /etc/passwd (package passwd), never from NSS.
package chainload
