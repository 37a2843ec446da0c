package routequery

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tokEOF    tokKind = iota
	tokIdent          // a bare name: keyword, function or application property
	tokDollar         // $name: system property, $body, $twin
	tokNumber
	tokString
	tokLParen
	tokRParen
	tokLBrack
	tokRBrack
	tokComma
	tokDot
	tokOp // = != <> < <= > >= + - * / %
)

type token struct {
	kind tokKind
	pos  int    // byte offset in the source
	text string // the source text
	str  string // tokString: the decoded literal
	num  float64
}

// describe names the token for error messages.
func (t token) describe() string {
	if t.kind == tokEOF {
		return "end of condition"
	}
	return "'" + t.text + "'"
}

// is reports whether t is the keyword kw (upper case), case-insensitively.
func (t token) is(kw string) bool { return t.kind == tokIdent && strings.EqualFold(t.text, kw) }

// lexer splits a condition into tokens, one at a time.
type lexer struct {
	src string
	off int
}

func isNameStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }

func isNameChar(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func (l *lexer) peekRune(off int) rune {
	if off >= len(l.src) {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(l.src[off:])
	return r
}

// scanName returns the offset just past the name starting at off. In a
// system property name ($dt-subject) a '-' followed by a letter belongs to
// the name.
func (l *lexer) scanName(off int, hyphens bool) int {
	for off < len(l.src) {
		r, n := utf8.DecodeRuneInString(l.src[off:])
		if isNameChar(r) {
			off += n
			continue
		}
		if hyphens && r == '-' && isNameStart(l.peekRune(off+1)) {
			off++
			continue
		}
		break
	}
	return off
}

// next scans the next token.
func (l *lexer) next() (token, *SyntaxError) {
	for l.off < len(l.src) {
		r, n := utf8.DecodeRuneInString(l.src[l.off:])
		if !unicode.IsSpace(r) {
			break
		}
		l.off += n
	}
	start := l.off
	if start >= len(l.src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	tok := func(k tokKind, end int) (token, *SyntaxError) {
		l.off = end
		return token{kind: k, pos: start, text: l.src[start:end]}, nil
	}
	r, n := utf8.DecodeRuneInString(l.src[start:])
	switch {
	case r == '(':
		return tok(tokLParen, start+1)
	case r == ')':
		return tok(tokRParen, start+1)
	case r == '[':
		return tok(tokLBrack, start+1)
	case r == ']':
		return tok(tokRBrack, start+1)
	case r == ',':
		return tok(tokComma, start+1)
	case r == '.' && !isDigit(l.peekRune(start+1)):
		return tok(tokDot, start+1)
	case r == '=' || r == '+' || r == '-' || r == '*' || r == '/' || r == '%':
		return tok(tokOp, start+1)
	case r == '!':
		if l.peekRune(start+1) == '=' {
			return tok(tokOp, start+2)
		}
		return token{}, l.errAt(start, "unexpected '!' (not equal is != or <>)")
	case r == '<':
		if c := l.peekRune(start + 1); c == '=' || c == '>' {
			return tok(tokOp, start+2)
		}
		return tok(tokOp, start+1)
	case r == '>':
		if l.peekRune(start+1) == '=' {
			return tok(tokOp, start+2)
		}
		return tok(tokOp, start+1)
	case r == '\'' || r == '"':
		return l.scanString(start, byte(r))
	case r == '.' || isDigit(r):
		return l.scanNumber(start)
	case r == '$':
		if !isNameStart(l.peekRune(start + 1)) {
			return token{}, l.errAt(start, "expected a property name after '$'")
		}
		return tok(tokDollar, l.scanName(start+1, true))
	case isNameStart(r):
		return tok(tokIdent, l.scanName(start+n, false))
	}
	return token{}, l.errAt(start, "unexpected character "+strconv.QuoteRune(r))
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// scanNumber scans a decimal literal (digits, optional fraction, optional
// exponent; or a fraction alone, .5) or a hexadecimal one (0x1F).
func (l *lexer) scanNumber(start int) (token, *SyntaxError) {
	s := l.src
	off := start
	if strings.HasPrefix(s[off:], "0x") || strings.HasPrefix(s[off:], "0X") {
		off += 2
		for off < len(s) && isHex(s[off]) {
			off++
		}
		if off == start+2 {
			return token{}, l.errAt(start, "expected hexadecimal digits after '"+s[start:off]+"'")
		}
		if off < len(s) && isNameChar(l.peekRune(off)) {
			return token{}, l.errAt(start, "malformed number '"+s[start:l.scanName(off, false)]+"'")
		}
		u, err := strconv.ParseUint(s[start+2:off], 16, 64)
		if err != nil {
			return token{}, l.errAt(start, "hexadecimal number '"+s[start:off]+"' out of range")
		}
		l.off = off
		return token{kind: tokNumber, pos: start, text: s[start:off], num: float64(u)}, nil
	}
	digits := func() int {
		from := off
		for off < len(s) && isDigit(rune(s[off])) {
			off++
		}
		return off - from
	}
	digits()
	if off < len(s) && s[off] == '.' {
		off++
		digits()
	}
	if off < len(s) && (s[off] == 'e' || s[off] == 'E') {
		off++
		if off < len(s) && (s[off] == '+' || s[off] == '-') {
			off++
		}
		if digits() == 0 {
			return token{}, l.errAt(start, "malformed number '"+s[start:off]+"': expected exponent digits")
		}
	}
	if off < len(s) && (isNameChar(l.peekRune(off)) || s[off] == '.') {
		end := off + 1
		for end < len(s) && (isNameChar(l.peekRune(end)) || s[end] == '.') {
			_, n := utf8.DecodeRuneInString(s[end:])
			end += n
		}
		return token{}, l.errAt(start, "malformed number '"+s[start:end]+"'")
	}
	f, err := strconv.ParseFloat(s[start:off], 64)
	if err != nil {
		return token{}, l.errAt(start, "number '"+s[start:off]+"' out of range")
	}
	l.off = off
	return token{kind: tokNumber, pos: start, text: s[start:off], num: f}, nil
}

// scanString scans a string literal in single or double quotes with the
// escapes IoT Hub documents: \' \" \\ and \uXXXX.
func (l *lexer) scanString(start int, q byte) (token, *SyntaxError) {
	s := l.src
	var b strings.Builder
	off := start + 1
	for {
		if off >= len(s) {
			return token{}, l.errAt(start, "unterminated string")
		}
		c := s[off]
		switch {
		case c == q:
			l.off = off + 1
			return token{kind: tokString, pos: start, text: s[start:l.off], str: b.String()}, nil
		case c == '\\':
			if off+1 >= len(s) {
				return token{}, l.errAt(start, "unterminated string")
			}
			switch e := s[off+1]; e {
			case '\'', '"', '\\':
				b.WriteByte(e)
				off += 2
			case 'u':
				if off+6 > len(s) || !isHex(s[off+2]) || !isHex(s[off+3]) || !isHex(s[off+4]) || !isHex(s[off+5]) {
					return token{}, l.errAt(off, `expected 4 hexadecimal digits after \u`)
				}
				u, _ := strconv.ParseUint(s[off+2:off+6], 16, 32)
				off += 6
				r := rune(u)
				if utf16IsHigh(r) && off+6 <= len(s) && s[off] == '\\' && s[off+1] == 'u' {
					if lo, err := strconv.ParseUint(s[off+2:off+6], 16, 32); err == nil && utf16IsLow(rune(lo)) {
						r = (r-0xd800)<<10 + (rune(lo) - 0xdc00) + 0x10000
						off += 6
					}
				}
				b.WriteRune(r) // a lone surrogate becomes U+FFFD
			default:
				_, n := utf8.DecodeRuneInString(s[off+1:])
				return token{}, l.errAt(off, `unknown escape '\`+s[off+1:off+1+n]+`' (allowed: \' \" \\ \uXXXX)`)
			}
		default:
			b.WriteByte(c)
			off++
		}
	}
}

func utf16IsHigh(r rune) bool { return r >= 0xd800 && r < 0xdc00 }

func utf16IsLow(r rune) bool { return r >= 0xdc00 && r < 0xe000 }

// errAt is a syntax error at byte offset off.
func (l *lexer) errAt(off int, msg string) *SyntaxError {
	return &SyntaxError{Pos: utf8.RuneCountInString(l.src[:off]) + 1, Msg: msg}
}
