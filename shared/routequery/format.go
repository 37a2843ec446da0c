package routequery

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Precedence levels, loosest first, as the parser's grammar nests them.
const (
	precOr = iota + 1
	precAnd
	precNot
	precCompare
	precAdd
	precMul
	precUnary
	precPrimary
)

// Canonical returns the condition in a normal form: keywords and function
// names in upper case, strings in single quotes, system properties as
// written, and only the parentheses precedence needs. Parsing it yields
// the same condition, and the same canonical form.
func (q *Query) Canonical() string {
	if q == nil || q.root == nil {
		return ""
	}
	var b strings.Builder
	q.root.format(&b, precOr)
	return b.String()
}

func (n *node) prec() int {
	switch n.op {
	case opOr:
		return precOr
	case opAnd:
		return precAnd
	case opNot:
		return precNot
	case opCompare, opIn:
		return precCompare
	case opArith:
		if n.sub == arithAdd || n.sub == arithSub {
			return precAdd
		}
		return precMul
	case opNeg:
		return precUnary
	case opConst:
		if n.val.k == kindNumber && (n.val.n < 0 || n.val.n == 0 && strconv.FormatFloat(n.val.n, 'g', -1, 64) == "-0") {
			return precUnary
		}
	}
	return precPrimary
}

// format writes n, in parentheses when it binds looser than min.
func (n *node) format(b *strings.Builder, min int) {
	if n.prec() < min {
		b.WriteByte('(')
		defer b.WriteByte(')')
	}
	switch n.op {
	case opConst:
		b.WriteString(n.val.String())
	case opSystem:
		b.WriteString(n.alt)
	case opApp:
		b.WriteString(n.name)
	case opBody:
		b.WriteString("$body")
		formatPath(b, n.path)
	case opTwinTag:
		b.WriteString("$twin.tags")
		formatPath(b, n.path)
	case opAnd, opOr:
		sep, kidMin := " AND ", precNot
		if n.op == opOr {
			sep, kidMin = " OR ", precAnd
		}
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			k.format(b, kidMin)
		}
	case opNot:
		b.WriteString("NOT ")
		n.kids[0].format(b, precNot)
	case opNeg:
		b.WriteString("-")
		if k := n.kids[0]; k.op == opNeg || k.prec() == precUnary {
			b.WriteString(" ") // "- -x", "- -1"
		}
		n.kids[0].format(b, precUnary)
	case opCompare:
		n.kids[0].format(b, precAdd)
		b.WriteString(" " + [...]string{cmpEq: "=", cmpNe: "!=", cmpLt: "<", cmpLe: "<=", cmpGt: ">", cmpGe: ">="}[n.sub] + " ")
		n.kids[1].format(b, precAdd)
	case opIn:
		n.kids[0].format(b, precAdd)
		if n.sub == 1 {
			b.WriteString(" NIN [")
		} else {
			b.WriteString(" IN [")
		}
		for i, v := range n.list {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(v.String())
		}
		b.WriteString("]")
	case opArith:
		p := n.prec()
		n.kids[0].format(b, p)
		b.WriteString(" " + arithText[n.sub] + " ")
		n.kids[1].format(b, p+1)
	case opCall:
		b.WriteString(funcs[n.sub].name)
		b.WriteByte('(')
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(", ")
			}
			k.format(b, precOr)
		}
		b.WriteByte(')')
	}
}

func formatPath(b *strings.Builder, path []seg) {
	for _, s := range path {
		switch {
		case s.index >= 0:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		case isPathName(s.name):
			b.WriteString("." + s.name)
		default:
			b.WriteString("[" + quote(s.name) + "]")
		}
	}
}

// isPathName reports whether name can follow a '.' in a path as the
// lexer reads it: a name, or a $name.
func isPathName(name string) bool {
	l := lexer{src: name}
	start := 0
	if strings.HasPrefix(name, "$") {
		start = 1
	}
	r, _ := utf8.DecodeRuneInString(name[start:])
	if !isNameStart(r) {
		return false
	}
	return l.scanName(start, start == 1) == len(name)
}
