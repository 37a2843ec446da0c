package routequery

import (
	"math"
	"strings"
)

// env is one evaluation: the message and what Match has read from it.
type env struct {
	m Message

	body               any
	bodyOK, bodyRead   bool
	tags               map[string]any
	tagsOK, tagsLoaded bool
}

func (e *env) eval(n *node) value {
	switch n.op {
	case opConst:
		return n.val
	case opSystem:
		if s, ok := e.m.SystemProperty(n.name); ok {
			return strValue(s)
		}
		// IoT Hub looks a $name that is no system property up among the
		// application properties.
		if s, ok := e.m.ApplicationProperty(n.alt); ok {
			return strValue(s)
		}
		return undefined
	case opApp:
		if s, ok := e.m.ApplicationProperty(n.name); ok {
			return strValue(s)
		}
		return undefined
	case opBody:
		if !e.bodyRead {
			e.body, e.bodyOK = e.m.Body()
			e.bodyRead = true
		}
		if !e.bodyOK {
			return undefined
		}
		return walk(e.body, n.path, false)
	case opTwinTag:
		if !e.tagsLoaded {
			e.tags, e.tagsOK = e.m.TwinTags()
			e.tagsLoaded = true
		}
		if !e.tagsOK || e.tags == nil {
			return undefined
		}
		return walk(e.tags, n.path, true)
	case opAnd:
		// false wins over undefined; true needs every operand true.
		res := vTrue
		for _, k := range n.kids {
			v := e.eval(k)
			if v.k != kindBool {
				res = undefined
			} else if !v.b {
				return vFalse
			}
		}
		return res
	case opOr:
		res := vFalse
		for _, k := range n.kids {
			v := e.eval(k)
			if v.k != kindBool {
				res = undefined
			} else if v.b {
				return vTrue
			}
		}
		return res
	case opNot:
		v := e.eval(n.kids[0])
		if v.k != kindBool {
			return undefined
		}
		return boolValue(!v.b)
	case opNeg:
		v := e.eval(n.kids[0])
		if v.k != kindNumber {
			return undefined
		}
		return numValue(-v.n)
	case opCompare:
		a, b := e.eval(n.kids[0]), e.eval(n.kids[1])
		return compare(n.sub, &a, &b)
	case opArith:
		return arith(n.sub, e.eval(n.kids[0]), e.eval(n.kids[1]))
	case opIn:
		v := e.eval(n.kids[0])
		if !v.isPrimitive() || v.k == kindNull {
			return undefined
		}
		found := false
		for _, c := range n.list {
			if r := compare(cmpEq, &v, &c); r.k == kindBool && r.b {
				found = true
				break
			}
		}
		return boolValue(found != (n.sub == 1))
	case opCall:
		return e.call(n)
	}
	return undefined
}

// walk follows path from root. Tags (fold) match member names
// case-insensitively when no member has the exact name, as IoT Hub's twin
// queries do; body members match exactly.
func walk(root any, path []seg, fold bool) value {
	cur := root
	for _, s := range path {
		switch c := cur.(type) {
		case map[string]any:
			if s.index >= 0 {
				return undefined
			}
			v, ok := c[s.name]
			if !ok && fold {
				for k, kv := range c {
					if strings.EqualFold(k, s.name) {
						v, ok = kv, true
						break
					}
				}
			}
			if !ok {
				return undefined
			}
			cur = v
		case []any:
			if s.index < 0 || s.index >= len(c) {
				return undefined
			}
			cur = c[s.index]
		default:
			return undefined
		}
	}
	return fromJSON(cur)
}

// compare applies a comparison operator. Only two numbers, two strings or
// (for = and !=) two booleans compare; anything else, null and undefined
// included, is undefined.
func compare(op uint8, a, b *value) value {
	if a.k != b.k {
		return undefined
	}
	var c int
	switch a.k {
	case kindNumber:
		switch {
		case a.n < b.n:
			c = -1
		case a.n > b.n:
			c = 1
		}
	case kindString:
		c = strings.Compare(a.s, b.s)
	case kindBool:
		if op != cmpEq && op != cmpNe {
			return undefined
		}
		if a.b != b.b {
			c = 1
		}
	default:
		return undefined
	}
	switch op {
	case cmpEq:
		return boolValue(c == 0)
	case cmpNe:
		return boolValue(c != 0)
	case cmpLt:
		return boolValue(c < 0)
	case cmpLe:
		return boolValue(c <= 0)
	case cmpGt:
		return boolValue(c > 0)
	case cmpGe:
		return boolValue(c >= 0)
	}
	return undefined
}

// arith applies an arithmetic operator to two numbers; anything else, and
// division by zero, is undefined.
func arith(op uint8, a, b value) value {
	if a.k != kindNumber || b.k != kindNumber {
		return undefined
	}
	switch op {
	case arithAdd:
		return numValue(a.n + b.n)
	case arithSub:
		return numValue(a.n - b.n)
	case arithMul:
		return numValue(a.n * b.n)
	case arithDiv:
		if b.n == 0 {
			return undefined
		}
		return numValue(a.n / b.n)
	case arithMod:
		if b.n == 0 {
			return undefined
		}
		return numValue(math.Mod(a.n, b.n))
	}
	return undefined
}
