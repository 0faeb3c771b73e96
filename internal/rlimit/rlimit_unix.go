//go:build unix

// Package rlimit raises the limit of open files of the load harnesses,
// which hold a socket per simulated visitor.
package rlimit

import "syscall"

// RaiseFiles lifts the limit of open files as far as the system lets this
// process (up to 1<<20; without the privilege, the hard limit): the
// processes it starts inherit it.
func RaiseFiles() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return
	}
	for _, n := range []uint64{1 << 20, 1 << 18, l.Max} {
		if n <= l.Cur {
			return
		}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: max(n, l.Max)}) == nil {
			return
		}
	}
}
