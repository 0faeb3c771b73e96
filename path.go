package waitroom

import "strings"

// One door: a zone judges the path the origin acts on. Origins differ in
// what they route to the same page (nginx merges slashes, Tomcat drops
// ";params", IIS and many routers ignore case and trailing dots), so the
// Room judges one canonical spelling, compared with the zones' prefixes
// broadly, and the middleware hands the origin that canonical spelling.
//
// CanonicalPath resolves what changes the path's structure: backslashes
// count as slashes, empty segments merge, "." and ".." segments resolve
// (also when a ";param" follows them, "..;x"). What an origin may read
// either way is left in the path but ignored by the comparison with a
// zone's prefixes: path parameters (";x"), trailing dots and spaces
// ("checkout. "), anything from a NUL on, and, unless WithStrictPaths,
// case. A path that still holds percent-escapes after the client's own
// decoding is also compared decoded once and twice more, so a
// double-encoded spelling ("%2563heckout") does not pass an origin that
// decodes again.

// CanonicalPath returns the canonical form of a decoded URL path (as in
// url.URL.Path): rooted, with backslashes read as slashes, runs of slashes
// merged and dot segments resolved. A trailing slash is kept. The empty
// path and "*" are returned as they are. It never fails; a path already
// canonical is returned without allocating.
func CanonicalPath(p string) string {
	if p == "" || p == "*" || isCanonical(p) {
		return p
	}
	segs := make([]string, 0, 8)
	trailing := false
	for rest := p; ; {
		seg, more, found := strings.Cut(rest, "/")
		if i := strings.IndexByte(seg, '\\'); i >= 0 {
			// A backslash separates too: cut there and look again.
			seg, more, found = rest[:i], rest[i+1:], true
		}
		switch bare(seg) {
		case "", ".":
			trailing = true
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
			trailing = true
		default:
			segs = append(segs, seg)
			trailing = false
		}
		if !found {
			break
		}
		rest = more
	}
	n := len(segs) + 1
	for _, s := range segs {
		n += len(s)
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(s)
	}
	if trailing || len(segs) == 0 {
		b.WriteByte('/')
	}
	return b.String()
}

// isCanonical reports whether p is rooted and has no backslash, no empty
// segment but a trailing one, and no dot segment.
func isCanonical(p string) bool {
	if p[0] != '/' || strings.IndexByte(p, '\\') >= 0 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		j := i + 1
		for j < len(p) && p[j] != '/' {
			j++
		}
		switch bare(p[i+1 : j]) {
		case "":
			if j < len(p) {
				return false // "//"
			}
		case ".", "..":
			return false
		}
		i = j - 1
	}
	return true
}

// bare returns a segment without its path parameters.
func bare(seg string) string {
	if i := strings.IndexByte(seg, ';'); i >= 0 {
		return seg[:i]
	}
	return seg
}

// pathKey returns the form of canonical path c that zone prefixes are
// compared with: each segment without parameters, cut at a NUL, and, unless
// strict, without trailing dots, spaces and tabs and in lower case;
// segments left empty are dropped.
func pathKey(c string, strict bool) string {
	if plainKey(c, strict) {
		if strict {
			return c
		}
		return strings.ToLower(c)
	}
	var b strings.Builder
	b.Grow(len(c))
	segs := strings.Split(c[1:], "/")
	for i, seg := range segs {
		seg = bare(seg)
		if j := strings.IndexByte(seg, 0); j >= 0 {
			seg = seg[:j]
		}
		if !strict {
			seg = strings.TrimRight(seg, ". \t")
		}
		switch {
		case seg != "":
			b.WriteByte('/')
			b.WriteString(seg)
		case i == len(segs)-1:
			b.WriteByte('/') // keep a trailing slash
		}
	}
	key := b.String()
	if key == "" {
		key = "/"
	}
	if !strict {
		key = strings.ToLower(key)
	}
	return key
}

// plainKey reports whether canonical path c is its own key (up to case):
// no parameter, no NUL and, unless strict, no segment ending in a dot, a
// space or a tab.
func plainKey(c string, strict bool) bool {
	for i := 0; i < len(c); i++ {
		switch c[i] {
		case ';', 0:
			return false
		case '.', ' ', '\t':
			if !strict && (i+1 == len(c) || c[i+1] == '/') {
				return false
			}
		}
	}
	return true
}

// pathKeys calls yield with the keys of p to compare with zone prefixes:
// the key of its canonical form, then, while percent-escapes remain, the
// key of the path decoded once more (at most twice), until yield returns
// false.
func pathKeys(p string, strict bool, yield func(key string) bool) {
	c := CanonicalPath(p)
	for range 3 {
		if !yield(pathKey(c, strict)) || strings.IndexByte(c, '%') < 0 {
			return
		}
		d := unescape(c)
		if d == c {
			return
		}
		c = CanonicalPath(d)
	}
}

// unescape decodes every valid percent-escape of s and keeps the rest.
func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// underPrefix reports whether key falls under prefix key p ("" covers
// every path; "/checkout" covers "/checkout" and "/checkout/pay", not
// "/checkouts").
func underPrefix(key, p string) bool {
	return p == "" || key == p || (strings.HasPrefix(key, p) && key[len(p)] == '/')
}
