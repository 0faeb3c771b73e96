//go:build unix

package main

import "syscall"

// raiseFileLimit lifts the limit of open files as far as the system lets
// this process: a crowd of visitors, a proxy and an origin in one process
// hold four sockets for every visitor inside.
func raiseFileLimit() {
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
