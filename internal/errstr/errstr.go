// Package errstr turns system errors into the words daemontools 0.76 prints
// for them ("file does not exist", "access denied", ...), which are not the
// C library's strerror texts. Tools that must print byte for byte what the
// original prints use it for the part of a message after the last ": ".
//
// It is not a general error formatter: it knows errnos only, and anything
// else is described by its own Error method.
package errstr

import (
	"errors"
	"syscall"
)

// messages holds daemontools' text for each errno Linux defines and
// daemontools knows, at the errno's index; an errno it does not know is
// "unknown error". An array, not a map: the linker lays it out, and no code
// builds it at every start of the binary.
var messages = [...]string{
	0:                       "no error",
	syscall.EINTR:           "interrupted system call",
	syscall.ENOMEM:          "out of memory",
	syscall.ENOENT:          "file does not exist",
	syscall.ETXTBSY:         "text busy",
	syscall.EIO:             "input/output error",
	syscall.EEXIST:          "file already exists",
	syscall.ETIMEDOUT:       "timed out",
	syscall.EINPROGRESS:     "operation in progress",
	syscall.EAGAIN:          "temporary failure", // also EWOULDBLOCK on Linux
	syscall.EPIPE:           "broken pipe",
	syscall.EPERM:           "permission denied",
	syscall.EACCES:          "access denied",
	syscall.ENXIO:           "device not configured",
	syscall.EPROTO:          "protocol error",
	syscall.EISDIR:          "is a directory",
	syscall.ECONNREFUSED:    "connection refused",
	syscall.ENOTDIR:         "not a directory",
	syscall.ESRCH:           "no such process",
	syscall.E2BIG:           "argument list too long",
	syscall.ENOEXEC:         "exec format error",
	syscall.EBADF:           "file descriptor not open",
	syscall.ECHILD:          "no child processes",
	syscall.EDEADLK:         "operation would cause deadlock",
	syscall.EFAULT:          "bad address",
	syscall.ENOTBLK:         "not a block device",
	syscall.EBUSY:           "device busy",
	syscall.EXDEV:           "cross-device link",
	syscall.ENODEV:          "device does not support operation",
	syscall.EINVAL:          "invalid argument",
	syscall.ENFILE:          "system cannot open more files",
	syscall.EMFILE:          "process cannot open more files",
	syscall.ENOTTY:          "not a tty",
	syscall.EFBIG:           "file too big",
	syscall.ENOSPC:          "out of disk space",
	syscall.ESPIPE:          "unseekable descriptor",
	syscall.EROFS:           "read-only file system",
	syscall.EMLINK:          "too many links",
	syscall.EDOM:            "input out of range",
	syscall.ERANGE:          "output out of range",
	syscall.EALREADY:        "operation already in progress",
	syscall.ENOTSOCK:        "not a socket",
	syscall.EDESTADDRREQ:    "destination address required",
	syscall.EMSGSIZE:        "message too long",
	syscall.EPROTOTYPE:      "incorrect protocol type",
	syscall.ENOPROTOOPT:     "protocol not available",
	syscall.EPROTONOSUPPORT: "protocol not supported",
	syscall.ESOCKTNOSUPPORT: "socket type not supported",
	syscall.EOPNOTSUPP:      "operation not supported",
	syscall.EPFNOSUPPORT:    "protocol family not supported",
	syscall.EAFNOSUPPORT:    "address family not supported",
	syscall.EADDRINUSE:      "address already used",
	syscall.EADDRNOTAVAIL:   "address not available",
	syscall.ENETDOWN:        "network down",
	syscall.ENETUNREACH:     "network unreachable",
	syscall.ENETRESET:       "network reset",
	syscall.ECONNABORTED:    "connection aborted",
	syscall.ECONNRESET:      "connection reset",
	syscall.ENOBUFS:         "out of buffer space",
	syscall.EISCONN:         "already connected",
	syscall.ENOTCONN:        "not connected",
	syscall.ESHUTDOWN:       "socket shut down",
	syscall.ETOOMANYREFS:    "too many references",
	syscall.ELOOP:           "symbolic link loop",
	syscall.ENAMETOOLONG:    "file name too long",
	syscall.EHOSTDOWN:       "host down",
	syscall.EHOSTUNREACH:    "host unreachable",
	syscall.ENOTEMPTY:       "directory not empty",
	syscall.EUSERS:          "too many users",
	syscall.EDQUOT:          "disk quota exceeded",
	syscall.ESTALE:          "stale NFS file handle",
	syscall.EREMOTE:         "too many levels of remote in path",
	syscall.ENOLCK:          "no locks available",
	syscall.ENOSYS:          "system call not available",
	syscall.ENOSTR:          "not a stream device",
	syscall.ETIME:           "timer expired",
	syscall.ENOSR:           "out of stream resources",
	syscall.ENOMSG:          "no message of desired type",
	syscall.EBADMSG:         "bad message type",
	syscall.EIDRM:           "identifier removed",
	syscall.ENONET:          "machine not on network",
	syscall.ENOLINK:         "link severed",
	syscall.EADV:            "advertise error",
	syscall.ESRMNT:          "srmount error",
	syscall.ECOMM:           "communication error",
	syscall.EMULTIHOP:       "multihop attempted",
	syscall.EREMCHG:         "remote address changed",
}

// Errno returns daemontools' text for e.
func Errno(e syscall.Errno) string {
	if uint64(e) < uint64(len(messages)) && messages[e] != "" {
		return messages[e]
	}
	return "unknown error"
}

// Of returns daemontools' text for the errno inside err (as wrapped by
// os.PathError, os.SyscallError and the like), or err's own text when it
// carries no errno.
func Of(err error) string {
	var e syscall.Errno
	if errors.As(err, &e) {
		return Errno(e)
	}
	return err.Error()
}
