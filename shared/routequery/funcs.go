package routequery

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

type function uint8

// The functions IoT Hub documents for routing conditions.
const (
	fnIsDefined function = iota
	fnIsNull
	fnIsBool
	fnIsNumber
	fnIsString
	fnIsObject
	fnIsArray
	fnIsPrimitive
	fnAsNumber
	fnConcat
	fnLength
	fnLower
	fnUpper
	fnSubstring
	fnIndexOf
	fnStartsWith
	fnEndsWith
	fnContains
	fnAbs
	fnCeiling
	fnExp
	fnFloor
	fnSign
	fnPower
	fnSquare
	fnSqrt
)

type funcSpec struct {
	name     string
	min, max int // argument count; max < 0: no limit
}

func (s funcSpec) arity() string {
	switch {
	case s.max < 0:
		return "at least " + strconv.Itoa(s.min) + " arguments"
	case s.min == s.max && s.min == 1:
		return "1 argument"
	case s.min == s.max:
		return strconv.Itoa(s.min) + " arguments"
	}
	return strconv.Itoa(s.min) + " or " + strconv.Itoa(s.max) + " arguments"
}

var funcs = [...]funcSpec{
	fnIsDefined:   {"IS_DEFINED", 1, 1},
	fnIsNull:      {"IS_NULL", 1, 1},
	fnIsBool:      {"IS_BOOL", 1, 1},
	fnIsNumber:    {"IS_NUMBER", 1, 1},
	fnIsString:    {"IS_STRING", 1, 1},
	fnIsObject:    {"IS_OBJECT", 1, 1},
	fnIsArray:     {"IS_ARRAY", 1, 1},
	fnIsPrimitive: {"IS_PRIMITIVE", 1, 1},
	fnAsNumber:    {"AS_NUMBER", 1, 1},
	fnConcat:      {"CONCAT", 2, -1},
	fnLength:      {"LENGTH", 1, 1},
	fnLower:       {"LOWER", 1, 1},
	fnUpper:       {"UPPER", 1, 1},
	fnSubstring:   {"SUBSTRING", 2, 3},
	fnIndexOf:     {"INDEX_OF", 2, 2},
	fnStartsWith:  {"STARTS_WITH", 2, 2},
	fnEndsWith:    {"ENDS_WITH", 2, 2},
	fnContains:    {"CONTAINS", 2, 2},
	fnAbs:         {"ABS", 1, 1},
	fnCeiling:     {"CEILING", 1, 1},
	fnExp:         {"EXP", 1, 1},
	fnFloor:       {"FLOOR", 1, 1},
	fnSign:        {"SIGN", 1, 1},
	fnPower:       {"POWER", 2, 2},
	fnSquare:      {"SQUARE", 1, 1},
	fnSqrt:        {"SQRT", 1, 1},
}

// lookupFunc finds a function by name, case-insensitively.
func lookupFunc(name string) (function, bool) {
	for i, s := range funcs {
		if strings.EqualFold(s.name, name) {
			return function(i), true
		}
	}
	return 0, false
}

// call evaluates a function. Type checks return false for undefined;
// every other function returns undefined when an argument is not of the
// type it takes.
func (e *env) call(n *node) value {
	fn := function(n.sub)
	switch fn {
	case fnConcat:
		return e.concat(n.kids)
	case fnSubstring:
		return e.substring(n.kids)
	}
	a := e.eval(n.kids[0])
	switch fn {
	case fnIsDefined:
		return boolValue(a.k != kindUndefined)
	case fnIsNull:
		return boolValue(a.k == kindNull)
	case fnIsBool:
		return boolValue(a.k == kindBool)
	case fnIsNumber:
		return boolValue(a.k == kindNumber)
	case fnIsString:
		return boolValue(a.k == kindString)
	case fnIsObject:
		return boolValue(a.k == kindObject)
	case fnIsArray:
		return boolValue(a.k == kindArray)
	case fnIsPrimitive:
		return boolValue(a.isPrimitive())
	case fnAsNumber:
		return asNumber(a)
	case fnLength:
		if a.k != kindString {
			return undefined
		}
		return numValue(float64(utf8.RuneCountInString(a.s)))
	case fnLower:
		if a.k != kindString {
			return undefined
		}
		return strValue(strings.ToLower(a.s))
	case fnUpper:
		if a.k != kindString {
			return undefined
		}
		return strValue(strings.ToUpper(a.s))
	case fnIndexOf, fnStartsWith, fnEndsWith, fnContains:
		if a.k != kindString {
			return undefined
		}
		b := e.eval(n.kids[1])
		if b.k != kindString {
			return undefined
		}
		switch fn {
		case fnStartsWith:
			return boolValue(strings.HasPrefix(a.s, b.s))
		case fnEndsWith:
			return boolValue(strings.HasSuffix(a.s, b.s))
		case fnContains:
			return boolValue(strings.Contains(a.s, b.s))
		}
		i := strings.Index(a.s, b.s)
		if i > 0 {
			i = utf8.RuneCountInString(a.s[:i])
		}
		return numValue(float64(i))
	}
	if a.k != kindNumber {
		return undefined
	}
	x := a.n
	switch fn {
	case fnAbs:
		return numValue(math.Abs(x))
	case fnCeiling:
		return numValue(math.Ceil(x))
	case fnExp:
		return numValue(math.Exp(x))
	case fnFloor:
		return numValue(math.Floor(x))
	case fnSign:
		switch {
		case x > 0:
			return numValue(1)
		case x < 0:
			return numValue(-1)
		}
		return numValue(0)
	case fnSquare:
		return numValue(x * x)
	case fnSqrt:
		return numValue(math.Sqrt(x))
	case fnPower:
		y := e.eval(n.kids[1])
		if y.k != kindNumber {
			return undefined
		}
		return numValue(math.Pow(x, y.n))
	}
	return undefined
}

// asNumber is AS_NUMBER: a number as is, a string that holds a number (in
// JSON's or the language's decimal syntax) as that number, otherwise
// undefined.
func asNumber(v value) value {
	switch v.k {
	case kindNumber:
		return v
	case kindString:
		s := strings.TrimSpace(v.s)
		if s == "" || strings.ContainsAny(s, "_xXnN") { // no Go-only syntax, hex, Inf or NaN
			return undefined
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return undefined
		}
		return numValue(f)
	}
	return undefined
}

// concat is CONCAT: the strings joined, undefined if any is not a string.
func (e *env) concat(args []*node) value {
	var b strings.Builder
	for _, a := range args {
		v := e.eval(a)
		if v.k != kindString {
			return undefined
		}
		b.WriteString(v.s)
	}
	return strValue(b.String())
}

// substring is SUBSTRING(s, start [, length]), in characters from 0;
// fractional positions truncate, and the range is clipped to the string.
func (e *env) substring(args []*node) value {
	s := e.eval(args[0])
	start := e.eval(args[1])
	if s.k != kindString || start.k != kindNumber {
		return undefined
	}
	length := math.Inf(1)
	if len(args) == 3 {
		l := e.eval(args[2])
		if l.k != kindNumber {
			return undefined
		}
		length = l.n
	}
	from := math.Max(math.Trunc(start.n), 0)
	count := math.Trunc(length)
	if count <= 0 {
		return strValue("")
	}
	// Walk the string once, by characters.
	i, b := 0.0, 0
	for b < len(s.s) && i < from {
		_, n := utf8.DecodeRuneInString(s.s[b:])
		b += n
		i++
	}
	end := b
	for end < len(s.s) && count > 0 {
		_, n := utf8.DecodeRuneInString(s.s[end:])
		end += n
		count--
	}
	return strValue(s.s[b:end])
}
