package waitroomtest

import (
	"fmt"
	"strings"
)

// Spellings returns request targets (escaped, as a client sends them) that
// common origins route to the canonical path p ("/checkout"): merged
// slashes (nginx), dot segments, also encoded and with parameters
// ("/x/..;/checkout", Tomcat), encoded and double-encoded slashes and
// letters, backslashes (IIS), case (IIS, case-insensitive routers), path
// parameters, trailing dots, spaces, tabs and NULs, and the same below p.
// None may reach an origin without an access token while p's zone queues;
// a test sends each to the wrapped app.
func Spellings(p string) []string {
	rest := strings.TrimPrefix(p, "/")
	first := rest[:1]
	enc := fmt.Sprintf("%%%02X", first[0])
	out := []string{
		"/" + p,
		"//" + p,
		strings.ReplaceAll(p, "/", "//"),
		"/./" + rest,
		"/x/../" + rest,
		"/x/..;/" + rest,
		"/x;y/../" + rest,
		"/%2e/" + rest,
		"/x/%2e%2e/" + rest,
		"/x/%2E%2E%2F" + rest,
		"/%2F" + rest,
		"/%2f" + rest,
		"/%5C" + rest,
		"/x%5C..%5C" + rest,
		"/%252F" + rest,
		"/" + enc + rest[1:],
		"/%25" + enc[1:] + rest[1:],
		strings.ToUpper(p),
		"/" + strings.ToUpper(first) + rest[1:],
		p + ";x",
		p + ";jsessionid=0123",
		p + ".",
		p + "..",
		p + "%2e",
		p + "%20",
		p + ".%20.",
		p + "%09",
		p + "%00",
		p + "%00.html",
		p + "/",
		p + "//",
		p + "/.",
		p + "/pay",
		"/" + p + "//pay",
		p + ";x/pay",
		p + "./pay",
		strings.ToUpper(p) + "/pay",
		p + "%2Fpay",
		p + "/x/../pay",
	}
	return out
}
