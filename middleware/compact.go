package middleware

import "strings"

// compactPage returns the source of the built-in page without what only
// its readers need: the indentation of its lines, blank lines, comments,
// and the spaces of its style sheet and script that separate no two words.
// A page whose header and body fit the server's 4 KB write buffer goes out
// in one write, so this counts for every waiting visitor's request. The
// script is written for it: a semicolon ends every statement, and there
// are no regular expression literals (a slash starts a comment or
// divides). A line holding a template action is only trimmed, so the
// values the template fills in read as written (var every = 5;).
func compactPage(src string) string {
	var b strings.Builder
	b.Grow(len(src))
	for src != "" {
		// The next <style> or <script> element, if any.
		i, tag := len(src), ""
		for _, t := range []string{"<style>", "<script>"} {
			if j := strings.Index(src, t); j >= 0 && j < i {
				i, tag = j, t
			}
		}
		compactLines(&b, src[:i])
		if tag == "" {
			break
		}
		src = src[i+len(tag):]
		end := strings.Index(src, "</"+tag[1:])
		if end < 0 {
			end = len(src)
		}
		b.WriteString(tag)
		compactCode(&b, src[:end], tag == "<script>")
		src = src[end:]
	}
	return b.String()
}

// compactLines writes text with each line trimmed and blank lines dropped.
func compactLines(b *strings.Builder, text string) {
	for line := range strings.Lines(text) {
		if t := strings.TrimSpace(line); t != "" {
			b.WriteString(t)
			if strings.HasSuffix(line, "\n") {
				b.WriteByte('\n')
			}
		}
	}
}

// compactCode writes a style sheet, or a script if js, compacted (see
// compactPage). Between two tokens it writes a space where both are words
// ("0 auto", "return false", and "+ +" in a script), or in a script a line
// break where the source has one that may end a statement.
func compactCode(b *strings.Builder, code string, js bool) {
	var last byte // the last byte written; 0 before the first
	space, newline := false, true
	for i := 0; i < len(code); {
		c := code[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = true
			newline = newline || c == '\n'
			i++
			continue
		case c == '/' && strings.HasPrefix(code[i:], "/*"):
			n := strings.Index(code[i+2:], "*/")
			if n < 0 {
				return
			}
			i += n + 4
			space = true
			continue
		case js && c == '/' && strings.HasPrefix(code[i:], "//"):
			for i < len(code) && code[i] != '\n' {
				i++
			}
			continue
		}
		if space && last != 0 {
			switch {
			case js && newline && endsStatement(last) && startsStatement(c):
				b.WriteByte('\n')
			case isWord(last, js) && isWord(c, js), js && (c == '+' || c == '-') && c == last:
				b.WriteByte(' ')
			}
		}
		n := 1
		switch {
		case newline && strings.Contains(firstLine(code[i:]), "{{"):
			n = len(strings.TrimRight(firstLine(code[i:]), " \t\r"))
		case c == '"' || c == '\'':
			n = quoted(code[i:], c)
		case c == '{' && strings.HasPrefix(code[i:], "{{"):
			if k := strings.Index(code[i:], "}}"); k >= 0 {
				n = k + 2
			}
		case !js && c == ';' && strings.HasPrefix(strings.TrimLeft(code[i+1:], " \t\r\n"), "}"):
			// The last declaration of a rule needs no semicolon.
			i++
			continue
		}
		b.WriteString(code[i : i+n])
		last = code[i+n-1]
		i += n
		space, newline = false, false
	}
}

// firstLine returns s up to its first line break.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// quoted returns the length of the string literal at the start of s,
// quotes and escapes included (all of s if it does not end).
func quoted(s string, q byte) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q:
			return i + 1
		}
	}
	return len(s)
}

// isWord reports whether c belongs to a name or a number of JavaScript, or
// of CSS (js false: with '-', '.', '#' and '%', as in "-1.5rem").
func isWord(c byte, js bool) bool {
	switch {
	case c == '_' || c == '$' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80:
		return true
	case js:
		return false
	}
	return c == '-' || c == '.' || c == '#' || c == '%'
}

// endsStatement and startsStatement report whether a line break between
// two bytes of a script may end a statement there (automatic semicolon
// insertion), so that it must be kept.
func endsStatement(c byte) bool {
	return isWord(c, true) || strings.IndexByte(")]}\"'+-", c) >= 0
}

func startsStatement(c byte) bool {
	return isWord(c, true) || strings.IndexByte("([{\"'+-/`!~", c) >= 0
}
