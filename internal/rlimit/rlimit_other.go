//go:build !unix

// Package rlimit raises the limit of open files of the load harnesses,
// which hold a socket per simulated visitor.
package rlimit

// RaiseFiles does nothing where there is no such limit to raise.
func RaiseFiles() {}
