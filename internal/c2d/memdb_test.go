package c2d

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicehub/devicehub/internal/schema"
)

// memDB is an in-memory C2D table that applies PutItem, UpdateItem, GetItem
// and DeleteItem as DynamoDB does, for the part of the expression language
// the expression builder emits for this package: comparisons, IN, AND, OR,
// NOT, attribute_exists and attribute_not_exists in conditions; SET (with
// +, - and if_not_exists) and REMOVE in updates. Like DynamoDB it evaluates
// every right-hand side on the item as it was, and refuses a request that
// carries names or values its expressions do not use. Anything else fails
// the request, so a test never passes on an expression it did not evaluate.
type memDB struct {
	mu    sync.Mutex
	items map[string]map[string]types.AttributeValue
}

func newMemDB() *memDB { return &memDB{items: map[string]map[string]types.AttributeValue{}} }

var errValidation = errors.New("memdb: validation error")

func itemID(it map[string]types.AttributeValue) string {
	s := func(k string) string {
		if v, ok := it[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	return s(schema.DeviceID) + "\x00" + s(schema.C2DSortKey)
}

func (db *memDB) get(key map[string]types.AttributeValue) map[string]types.AttributeValue {
	db.mu.Lock()
	defer db.mu.Unlock()
	return cloneItem(db.items[itemID(key)])
}

func (db *memDB) put(it map[string]types.AttributeValue) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.items[itemID(it)] = cloneItem(it)
}

func (db *memDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{Item: db.get(in.Key)}, nil
}

func (db *memDB) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, errors.New("memdb: Query is not implemented")
}

func (db *memDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	id := itemID(in.Item)
	env := newEnv(db.items[id], in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	ok, err := env.condition(in.ConditionExpression)
	if err == nil {
		err = env.allUsed()
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, conditionFailed()
	}
	db.items[id] = cloneItem(in.Item)
	return &dynamodb.PutItemOutput{}, nil
}

func (db *memDB) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	id := itemID(in.Key)
	env := newEnv(db.items[id], in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	ok, err := env.condition(in.ConditionExpression)
	if err == nil {
		err = env.allUsed()
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, conditionFailed()
	}
	delete(db.items, id)
	return &dynamodb.DeleteItemOutput{}, nil
}

func (db *memDB) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	id := itemID(in.Key)
	old := db.items[id]
	env := newEnv(old, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	ok, err := env.condition(in.ConditionExpression)
	if err != nil {
		return nil, err
	}
	next := cloneItem(old)
	if next == nil {
		next = cloneItem(in.Key)
	}
	updErr := env.update(aws.ToString(in.UpdateExpression), next)
	if err := env.allUsed(); err != nil {
		return nil, err
	}
	if !ok {
		return nil, conditionFailed()
	}
	if updErr != nil {
		return nil, updErr
	}
	db.items[id] = next
	out := &dynamodb.UpdateItemOutput{}
	switch in.ReturnValues {
	case types.ReturnValueAllNew:
		out.Attributes = cloneItem(next)
	case types.ReturnValueAllOld:
		out.Attributes = cloneItem(old)
	case types.ReturnValueNone, "":
	default:
		return nil, fmt.Errorf("%w: ReturnValues %s is not implemented", errValidation, in.ReturnValues)
	}
	return out, nil
}

func conditionFailed() error {
	return &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
}

func cloneItem(it map[string]types.AttributeValue) map[string]types.AttributeValue {
	if it == nil {
		return nil
	}
	c := make(map[string]types.AttributeValue, len(it))
	for k, v := range it {
		c[k] = cloneAV(v)
	}
	return c
}

func cloneAV(v types.AttributeValue) types.AttributeValue {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return &types.AttributeValueMemberS{Value: v.Value}
	case *types.AttributeValueMemberN:
		return &types.AttributeValueMemberN{Value: v.Value}
	case *types.AttributeValueMemberB:
		return &types.AttributeValueMemberB{Value: bytes.Clone(v.Value)}
	case *types.AttributeValueMemberM:
		return &types.AttributeValueMemberM{Value: cloneItem(v.Value)}
	case *types.AttributeValueMemberL:
		l := make([]types.AttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = cloneAV(e)
		}
		return &types.AttributeValueMemberL{Value: l}
	}
	panic(fmt.Sprintf("memdb: attribute value %T is not implemented", v))
}

// exprEnv evaluates one request's expressions against the item as it was.
type exprEnv struct {
	item         map[string]types.AttributeValue
	names        map[string]string
	values       map[string]types.AttributeValue
	usedN, usedV map[string]bool
}

func newEnv(item map[string]types.AttributeValue, names map[string]string, values map[string]types.AttributeValue) *exprEnv {
	return &exprEnv{item: item, names: names, values: values, usedN: map[string]bool{}, usedV: map[string]bool{}}
}

// allUsed is DynamoDB's rule: every name and value given is used, and an
// empty map is not given at all.
func (e *exprEnv) allUsed() error {
	if e.names != nil && len(e.names) == 0 || e.values != nil && len(e.values) == 0 {
		return fmt.Errorf("%w: empty ExpressionAttributeNames or ExpressionAttributeValues", errValidation)
	}
	for k := range e.names {
		if !e.usedN[k] {
			return fmt.Errorf("%w: unused name %s", errValidation, k)
		}
	}
	for k := range e.values {
		if !e.usedV[k] {
			return fmt.Errorf("%w: unused value %s", errValidation, k)
		}
	}
	return nil
}

func (e *exprEnv) condition(expr *string) (bool, error) {
	if expr == nil {
		return true, nil
	}
	p, err := e.parser(*expr)
	if err != nil {
		return false, err
	}
	v := p.or()
	p.end()
	return v, p.err
}

func (e *exprEnv) update(expr string, next map[string]types.AttributeValue) error {
	p, err := e.parser(expr)
	if err != nil {
		return err
	}
	set := map[string]types.AttributeValue{}
	var remove []string
	for p.err == nil && !p.done() {
		switch kw := p.next(); kw {
		case "SET":
			for {
				n := p.attrName()
				p.expect("=")
				set[n] = p.setValue()
				if !p.accept(",") {
					break
				}
			}
		case "REMOVE":
			for {
				remove = append(remove, p.attrName())
				if !p.accept(",") {
					break
				}
			}
		default:
			p.fail("update clause %q is not implemented", kw)
		}
	}
	if p.err != nil {
		return p.err
	}
	for k, v := range set {
		next[k] = v
	}
	for _, k := range remove {
		delete(next, k)
	}
	return nil
}

// parser reads and evaluates one expression, token by token; the first
// error stops it.
type parser struct {
	env  *exprEnv
	toks []string
	pos  int
	err  error
}

func (e *exprEnv) parser(s string) (*parser, error) {
	var toks []string
	word := func(c byte) bool {
		return c == '_' || c == '#' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\n' || c == '\t':
			i++
		case strings.IndexByte("(),+-=", c) >= 0:
			toks = append(toks, s[i:i+1])
			i++
		case c == '<' || c == '>':
			n := 1
			if i+1 < len(s) && (s[i+1] == '=' || c == '<' && s[i+1] == '>') {
				n = 2
			}
			toks = append(toks, s[i:i+n])
			i += n
		case word(c):
			j := i
			for j < len(s) && word(s[j]) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil, fmt.Errorf("%w: unexpected %q in %q", errValidation, c, s)
		}
	}
	return &parser{env: e, toks: toks}, nil
}

func (p *parser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: "+format, append([]any{errValidation}, args...)...)
	}
}

func (p *parser) done() bool { return p.pos >= len(p.toks) }

func (p *parser) next() string {
	if p.err != nil || p.done() {
		p.fail("unexpected end of expression")
		return ""
	}
	p.pos++
	return p.toks[p.pos-1]
}

func (p *parser) accept(tok string) bool {
	if p.err == nil && !p.done() && p.toks[p.pos] == tok {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(tok string) {
	if got := p.next(); got != tok && p.err == nil {
		p.fail("want %q, got %q", tok, got)
	}
}

func (p *parser) end() {
	if !p.done() {
		p.fail("trailing %q", p.toks[p.pos:])
	}
}

func (p *parser) or() bool {
	v := p.and()
	for p.accept("OR") {
		w := p.and() // both sides are read: every name and value counts as used
		v = v || w
	}
	return v
}

func (p *parser) and() bool {
	v := p.not()
	for p.accept("AND") {
		w := p.not()
		v = v && w
	}
	return v
}

func (p *parser) not() bool {
	if p.accept("NOT") {
		return !p.not()
	}
	return p.primary()
}

func (p *parser) primary() bool {
	switch {
	case p.accept("("):
		v := p.or()
		p.expect(")")
		return v
	case p.accept("attribute_exists"):
		p.expect("(")
		v := p.path()
		p.expect(")")
		return v != nil
	case p.accept("attribute_not_exists"):
		p.expect("(")
		v := p.path()
		p.expect(")")
		return v == nil
	}
	left := p.operand()
	switch op := p.next(); op {
	case "=", "<>", "<", "<=", ">", ">=":
		return compareAV(op, left, p.operand())
	case "IN":
		p.expect("(")
		in := false
		for {
			if compareAV("=", left, p.operand()) {
				in = true
			}
			if !p.accept(",") {
				break
			}
		}
		p.expect(")")
		return in
	default:
		p.fail("operator %q is not implemented", op)
		return false
	}
}

// attrName reads a name placeholder and returns the attribute it stands for.
func (p *parser) attrName() string {
	tok := p.next()
	n, ok := p.env.names[tok]
	if !ok {
		p.fail("name %q is not defined", tok)
	}
	p.env.usedN[tok] = true
	return n
}

// path is the attribute a name placeholder stands for, nil when missing.
func (p *parser) path() types.AttributeValue {
	return p.env.item[p.attrName()]
}

func (p *parser) operand() types.AttributeValue {
	if p.err == nil && !p.done() && strings.HasPrefix(p.toks[p.pos], ":") {
		tok := p.next()
		v, ok := p.env.values[tok]
		if !ok {
			p.fail("value %q is not defined", tok)
		}
		p.env.usedV[tok] = true
		return v
	}
	return p.path()
}

func (p *parser) setOperand() types.AttributeValue {
	if p.accept("if_not_exists") {
		p.expect("(")
		v := p.path()
		p.expect(",")
		alt := p.setOperand()
		p.expect(")")
		if v == nil {
			return alt
		}
		return v
	}
	v := p.operand()
	if v == nil {
		p.fail("an operand of the update refers to a missing attribute")
	}
	return v
}

func (p *parser) setValue() types.AttributeValue {
	v := p.setOperand()
	for _, op := range []string{"+", "-"} {
		if p.accept(op) {
			w := p.setOperand()
			a, aok := number(v)
			b, bok := number(w)
			if !aok || !bok {
				p.fail("%s of non-numbers", op)
				return nil
			}
			if op == "-" {
				b.Neg(b)
			}
			return &types.AttributeValueMemberN{Value: a.Add(a, b).RatString()}
		}
	}
	return v
}

func number(v types.AttributeValue) (*big.Rat, bool) {
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		return nil, false
	}
	return new(big.Rat).SetString(n.Value)
}

// compareAV applies a comparison as DynamoDB does: values of different
// types, or a missing attribute, compare unequal and unordered.
func compareAV(op string, a, b types.AttributeValue) bool {
	c, ok := 0, false
	switch a := a.(type) {
	case *types.AttributeValueMemberS:
		if b, isS := b.(*types.AttributeValueMemberS); isS {
			c, ok = strings.Compare(a.Value, b.Value), true
		}
	case *types.AttributeValueMemberB:
		if b, isB := b.(*types.AttributeValueMemberB); isB {
			c, ok = bytes.Compare(a.Value, b.Value), true
		}
	case *types.AttributeValueMemberN:
		x, xok := number(a)
		y, yok := number(b)
		if xok && yok {
			c, ok = x.Cmp(y), true
		}
	}
	if !ok {
		return op == "<>"
	}
	switch op {
	case "=":
		return c == 0
	case "<>":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0 // ">="
}
