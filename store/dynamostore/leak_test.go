package dynamostore

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them. The
// idle keep-alive connections of the AWS SDK's default HTTP client, which
// Open uses and the SDK gives no way to close, are not leaks; the tests'
// own clients (localClients) close theirs.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))
}
