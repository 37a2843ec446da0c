package routequery

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

type opcode uint8

const (
	opConst   opcode = iota
	opSystem         // $name: name = system property, alt = application property fallback
	opApp            // bare name: application property
	opBody           // $body path
	opTwinTag        // $twin.tags path
	opAnd            // kids, flattened
	opOr             // kids, flattened
	opNot            // kids[0]
	opNeg            // kids[0]
	opCompare        // sub = cmp*, kids[0], kids[1]
	opArith          // sub = arith*, kids[0], kids[1]
	opIn             // kids[0] IN list (sub = 1: NIN)
	opCall           // sub = function, kids = arguments
)

const (
	cmpEq uint8 = iota
	cmpNe
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

const (
	arithAdd uint8 = iota
	arithSub
	arithMul
	arithDiv
	arithMod
)

var arithText = [...]string{arithAdd: "+", arithSub: "-", arithMul: "*", arithDiv: "/", arithMod: "%"}

// node is one node of a parsed condition.
type node struct {
	op     opcode
	sub    uint8
	val    value   // opConst
	name   string  // opSystem, opApp
	alt    string  // opSystem: the application property looked up when the system one is missing
	path   []seg   // opBody, opTwinTag
	kids   []*node // operands, arguments
	list   []value // opIn
	height int     // operator levels: 0 for a leaf, 1 + the highest operand
}

// seg is one step of a $body or $twin path: a member name, or an array
// index when index >= 0.
type seg struct {
	name  string
	index int
}

// systemName returns the documented system property name written
// (case-insensitively) in a condition.
func systemName(written string) (string, bool) {
	for _, n := range [...]string{
		SystemContentType, SystemContentEncoding, SystemConnectionDeviceID, SystemConnectionModuleID,
		SystemConnectionDeviceGenerationID, SystemConnectionAuthMethod, SystemEnqueuedTime,
		SystemMessageID, SystemCorrelationID, SystemUserID, SystemDataSchema, SystemSubject,
	} {
		if strings.EqualFold(written, n) {
			return n, true
		}
	}
	return "", false
}

type parser struct {
	lx       lexer
	tok      token
	nest     int
	usesBody bool
	usesTwin bool
}

func (p *parser) errAt(off int, msg string) *SyntaxError { return p.lx.errAt(off, msg) }

func (p *parser) advance() *SyntaxError {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) parse() (*node, error) {
	src := p.lx.src
	if !utf8.ValidString(src) {
		off := 0
		for off < len(src) {
			r, n := utf8.DecodeRuneInString(src[off:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			off += n
		}
		return nil, p.errAt(off, "invalid UTF-8")
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return nil, p.errAt(p.tok.pos, "empty condition")
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errAt(p.tok.pos, "unexpected "+p.tok.describe()+" after a complete expression (missing AND or OR?)")
	}
	return n, nil
}

// enter guards the parser's recursion depth.
func (p *parser) enter(off int) *SyntaxError {
	p.nest++
	if p.nest > MaxDepth {
		return p.errAt(off, "condition nested too deeply")
	}
	return nil
}

func (p *parser) leave() { p.nest-- }

// mk builds a node over kids and bounds the tree's height, which bounds
// Match's recursion.
func (p *parser) mk(off int, n *node) (*node, *SyntaxError) {
	h := 0
	for _, k := range n.kids {
		h = max(h, k.height)
	}
	n.height = h + 1
	if n.height > MaxDepth {
		return nil, p.errAt(off, "condition nested too deeply")
	}
	return n, nil
}

// or = and { OR and }
func (p *parser) or() (*node, *SyntaxError) {
	return p.chain("OR", opOr, p.and)
}

// and = not { AND not }
func (p *parser) and() (*node, *SyntaxError) {
	return p.chain("AND", opAnd, p.not)
}

// chain parses operands joined by the keyword kw into one flat node.
func (p *parser) chain(kw string, op opcode, operand func() (*node, *SyntaxError)) (*node, *SyntaxError) {
	first, err := operand()
	if err != nil {
		return nil, err
	}
	if !p.tok.is(kw) {
		return first, nil
	}
	off := p.tok.pos
	kids := []*node{first}
	for p.tok.is(kw) {
		if err := p.advance(); err != nil {
			return nil, err
		}
		k, err := operand()
		if err != nil {
			return nil, err
		}
		kids = append(kids, k)
	}
	return p.mk(off, &node{op: op, kids: kids})
}

// not = NOT not | comparison
func (p *parser) not() (*node, *SyntaxError) {
	if !p.tok.is("NOT") {
		return p.comparison()
	}
	off := p.tok.pos
	if err := p.enter(off); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.advance(); err != nil {
		return nil, err
	}
	k, err := p.not()
	if err != nil {
		return nil, err
	}
	return p.mk(off, &node{op: opNot, kids: []*node{k}})
}

// comparison = additive [ compare-op additive | (IN | NIN) array ]
func (p *parser) comparison() (*node, *SyntaxError) {
	left, err := p.additive()
	if err != nil {
		return nil, err
	}
	off := p.tok.pos
	if p.tok.is("IN") || p.tok.is("NIN") {
		var sub uint8
		if p.tok.is("NIN") {
			sub = 1
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		list, err := p.array()
		if err != nil {
			return nil, err
		}
		return p.mk(off, &node{op: opIn, sub: sub, kids: []*node{left}, list: list})
	}
	if p.tok.kind != tokOp {
		return left, nil
	}
	var c uint8
	switch p.tok.text {
	case "=":
		c = cmpEq
	case "!=", "<>":
		c = cmpNe
	case "<":
		c = cmpLt
	case "<=":
		c = cmpLe
	case ">":
		c = cmpGt
	case ">=":
		c = cmpGe
	default:
		return left, nil
	}
	opTok := p.tok
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return nil, p.errAt(p.tok.pos, "expected an expression after "+opTok.describe())
	}
	right, err := p.additive()
	if err != nil {
		return nil, err
	}
	if p.tok.kind == tokOp && isComparison(p.tok.text) {
		return nil, p.errAt(p.tok.pos, "comparisons do not chain: join them with AND")
	}
	return p.mk(off, &node{op: opCompare, sub: c, kids: []*node{left, right}})
}

func isComparison(op string) bool {
	switch op {
	case "=", "!=", "<>", "<", "<=", ">", ">=":
		return true
	}
	return false
}

// array = '[' [ constant { ',' constant } ] ']'
func (p *parser) array() ([]value, *SyntaxError) {
	if p.tok.kind != tokLBrack {
		return nil, p.errAt(p.tok.pos, "expected '[' to start a list, found "+p.tok.describe())
	}
	open := p.tok.pos
	if err := p.advance(); err != nil {
		return nil, err
	}
	var list []value
	if p.tok.kind == tokRBrack {
		return list, p.advance()
	}
	for {
		v, err := p.constant()
		if err != nil {
			return nil, err
		}
		list = append(list, v)
		switch p.tok.kind {
		case tokComma:
			if err := p.advance(); err != nil {
				return nil, err
			}
		case tokRBrack:
			return list, p.advance()
		default:
			return nil, p.errAt(p.tok.pos, "expected ',' or ']' in the list opened at position "+strconv.Itoa(p.lx.errAt(open, "").Pos)+", found "+p.tok.describe())
		}
	}
}

// constant = ['-'] number | string | true | false | null
func (p *parser) constant() (value, *SyntaxError) {
	t := p.tok
	neg := false
	if t.kind == tokOp && (t.text == "-" || t.text == "+") {
		neg = t.text == "-"
		if err := p.advance(); err != nil {
			return value{}, err
		}
		if p.tok.kind != tokNumber {
			return value{}, p.errAt(p.tok.pos, "expected a number after "+t.describe())
		}
		t = p.tok
	}
	var v value
	switch {
	case t.kind == tokNumber:
		v = value{k: kindNumber, n: t.num}
		if neg {
			v.n = -v.n
		}
	case t.kind == tokString:
		v = strValue(t.str)
	case t.is("TRUE"):
		v = vTrue
	case t.is("FALSE"):
		v = vFalse
	case t.is("NULL"):
		v = null
	default:
		return value{}, p.errAt(t.pos, "expected a constant (number, string, true, false or null), found "+t.describe())
	}
	return v, p.advance()
}

// additive = multiplicative { ('+' | '-') multiplicative }
func (p *parser) additive() (*node, *SyntaxError) {
	return p.arith(p.multiplicative, "+", "-")
}

// multiplicative = unary { ('*' | '/' | '%') unary }
func (p *parser) multiplicative() (*node, *SyntaxError) {
	return p.arith(p.unary, "*", "/", "%")
}

func (p *parser) arith(operand func() (*node, *SyntaxError), ops ...string) (*node, *SyntaxError) {
	left, err := operand()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tokOp && contains(ops, p.tok.text) {
		opTok := p.tok
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tokEOF {
			return nil, p.errAt(p.tok.pos, "expected an expression after "+opTok.describe())
		}
		right, err := operand()
		if err != nil {
			return nil, err
		}
		var sub uint8
		for i, t := range arithText {
			if t == opTok.text {
				sub = uint8(i)
			}
		}
		if left, err = p.mk(opTok.pos, &node{op: opArith, sub: sub, kids: []*node{left, right}}); err != nil {
			return nil, err
		}
	}
	return left, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unary = ('-' | '+') unary | primary
func (p *parser) unary() (*node, *SyntaxError) {
	if p.tok.kind != tokOp || (p.tok.text != "-" && p.tok.text != "+") {
		return p.primary()
	}
	opTok := p.tok
	if err := p.enter(opTok.pos); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return nil, p.errAt(p.tok.pos, "expected an expression after "+opTok.describe())
	}
	k, err := p.unary()
	if err != nil {
		return nil, err
	}
	if k.op == opConst && k.val.k == kindNumber {
		if opTok.text == "-" {
			k.val.n = -k.val.n
		}
		return k, nil
	}
	if opTok.text == "+" {
		return p.mk(opTok.pos, &node{op: opArith, sub: arithAdd, kids: []*node{{op: opConst, val: value{k: kindNumber}}, k}})
	}
	return p.mk(opTok.pos, &node{op: opNeg, kids: []*node{k}})
}

// primary = constant | undefined | '(' or ')' | function '(' [args] ')'
//
//	| $body path | $twin path | $name | name
func (p *parser) primary() (*node, *SyntaxError) {
	t := p.tok
	switch t.kind {
	case tokNumber, tokString:
		v, err := p.constant()
		if err != nil {
			return nil, err
		}
		return &node{op: opConst, val: v}, nil
	case tokLParen:
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		defer p.leave()
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tokRParen {
			return nil, p.errAt(p.tok.pos, "expected an expression inside '(' ')'")
		}
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tokRParen {
			return nil, p.errAt(p.tok.pos, "expected ')' to close the '(' at position "+strconv.Itoa(p.lx.errAt(t.pos, "").Pos)+", found "+p.tok.describe())
		}
		return n, p.advance()
	case tokDollar:
		return p.dollar()
	case tokIdent:
		switch {
		case t.is("TRUE"), t.is("FALSE"), t.is("NULL"):
			v, err := p.constant()
			if err != nil {
				return nil, err
			}
			return &node{op: opConst, val: v}, nil
		case t.is("UNDEFINED"):
			return &node{op: opConst}, p.advance()
		case t.is("AND"), t.is("OR"), t.is("NOT"), t.is("IN"), t.is("NIN"):
			return nil, p.errAt(t.pos, "expected an expression, found keyword "+t.describe())
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tokLParen {
			return p.call(t)
		}
		if p.tok.kind == tokDot || p.tok.kind == tokLBrack {
			return nil, p.errAt(p.tok.pos, "application property "+t.describe()+" is a string and has no members; a body path starts with $body, a tag path with $twin.tags")
		}
		return &node{op: opApp, name: t.text}, nil
	case tokEOF:
		return nil, p.errAt(t.pos, "unexpected end of condition: expected an expression")
	}
	return nil, p.errAt(t.pos, "expected an expression, found "+t.describe())
}

// dollar parses $body paths, $twin paths and system properties.
func (p *parser) dollar() (*node, *SyntaxError) {
	t := p.tok
	name := t.text[1:]
	if err := p.advance(); err != nil {
		return nil, err
	}
	switch {
	case strings.EqualFold(name, "body"):
		path, err := p.path()
		if err != nil {
			return nil, err
		}
		// IoT Hub evaluates the whole body, or a path that starts with an
		// index, to undefined.
		if len(path) == 0 || path[0].index >= 0 {
			return &node{op: opConst}, nil
		}
		p.usesBody = true
		return &node{op: opBody, path: path}, nil
	case strings.EqualFold(name, "twin"):
		path, err := p.path()
		if err != nil {
			return nil, err
		}
		// Only tags are known to this hub; $twin.properties (desired,
		// reported) and anything else is undefined.
		if len(path) == 0 || path[0].index >= 0 || !strings.EqualFold(path[0].name, "tags") {
			return &node{op: opConst}, nil
		}
		p.usesTwin = true
		return &node{op: opTwinTag, path: path[1:]}, nil
	}
	if p.tok.kind == tokDot || p.tok.kind == tokLBrack {
		return nil, p.errAt(p.tok.pos, "system property "+t.describe()+" is a string and has no members; a body path starts with $body, a tag path with $twin.tags")
	}
	if p.tok.kind == tokLParen {
		return nil, p.errAt(t.pos, "unknown function "+t.describe())
	}
	n := &node{op: opSystem, name: name, alt: t.text}
	if canon, ok := systemName(name); ok {
		n.name = canon
	}
	return n, nil
}

// path = { '.' name | '[' (index | string) ']' }
func (p *parser) path() ([]seg, *SyntaxError) {
	var path []seg
	for {
		switch p.tok.kind {
		case tokDot:
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.tok.kind != tokIdent && p.tok.kind != tokDollar {
				return nil, p.errAt(p.tok.pos, "expected a name after '.', found "+p.tok.describe())
			}
			path = append(path, seg{name: p.tok.text, index: -1})
		case tokLBrack:
			open := p.tok.pos
			if err := p.advance(); err != nil {
				return nil, err
			}
			switch t := p.tok; {
			case t.kind == tokString:
				path = append(path, seg{name: t.str, index: -1})
			case t.kind == tokNumber && t.num >= 0 && t.num == math.Trunc(t.num) && t.num <= math.MaxInt32:
				path = append(path, seg{index: int(t.num)})
			default:
				return nil, p.errAt(t.pos, "expected an array index (0, 1...) or a quoted name after '[', found "+t.describe())
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.tok.kind != tokRBrack {
				return nil, p.errAt(p.tok.pos, "expected ']' to close the '[' at position "+strconv.Itoa(p.lx.errAt(open, "").Pos)+", found "+p.tok.describe())
			}
		default:
			return path, nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}

// call = name '(' [ or { ',' or } ] ')'; p.tok is the '('.
func (p *parser) call(name token) (*node, *SyntaxError) {
	fn, ok := lookupFunc(name.text)
	if !ok {
		return nil, p.errAt(name.pos, "unknown function "+name.describe())
	}
	if err := p.enter(name.pos); err != nil {
		return nil, err
	}
	defer p.leave()
	spec := funcs[fn]
	if err := p.advance(); err != nil {
		return nil, err
	}
	var args []*node
	if p.tok.kind != tokRParen {
		for {
			a, err := p.or()
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			if p.tok.kind != tokComma {
				break
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
	}
	if p.tok.kind != tokRParen {
		return nil, p.errAt(p.tok.pos, "expected ',' or ')' in the arguments of "+spec.name+", found "+p.tok.describe())
	}
	if len(args) < spec.min || spec.max >= 0 && len(args) > spec.max {
		return nil, p.errAt(name.pos, spec.name+" takes "+spec.arity()+", got "+strconv.Itoa(len(args)))
	}
	n, err := p.mk(name.pos, &node{op: opCall, sub: uint8(fn), kids: args})
	if err != nil {
		return nil, err
	}
	return n, p.advance()
}
