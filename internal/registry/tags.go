package registry

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/devicehub/devicehub/internal/apierr"
)

// IoT Hub's limits on a twin's tags (its device twin guide, "Tags and
// properties format" and "Device twin size").
const (
	MaxTagsSize       = 8 << 10 // bytes, counted as tagsSize counts them
	MaxTagsDepth      = 10      // nested objects (and arrays) below tags
	MaxTagKeyBytes    = 1 << 10
	MaxTagStringBytes = 4 << 10
	MaxTagInteger     = 1<<52 - 1 // 4503599627370495
	MinTagInteger     = -(1 << 52)
)

// DynamoDB's number range: a number outside it cannot be stored.
const (
	maxStoredNumber = 1e125
	minStoredNumber = 1e-130
)

// MergeTags applies a JSON merge patch (RFC 7386) to tags, as IoT Hub's
// twin PATCH does: a null removes a key, an object merges into an object,
// any other value replaces. tags is not modified; the result shares no
// maps with it that the patch changed.
func MergeTags(tags, patch map[string]any) map[string]any {
	out := maps.Clone(tags)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range patch {
		switch v := v.(type) {
		case nil:
			delete(out, k)
		case map[string]any:
			cur, _ := out[k].(map[string]any)
			out[k] = MergeTags(cur, v)
		default:
			out[k] = v
		}
	}
	return out
}

// NormalizeTags checks tags against IoT Hub's rules and returns them with
// every number as a float64 (numbers may come as json.Number from a
// decoder that keeps them exact, so the integer range is checked on the
// digits). Keys are 1 to 1 KB of UTF-8 without control characters, '.',
// '$' or space; values are strings of at most 4 KB, numbers (integers
// within ±2^52), booleans, objects and arrays, nested at most 10 deep; the
// whole is at most 8 KB (tagsSize). A null is only allowed in an array: in
// an object it is a merge patch's removal.
func NormalizeTags(tags map[string]any) (map[string]any, error) {
	out, err := normalizeObject(tags, "", 0)
	if err != nil {
		return nil, apierr.ArgumentInvalid.New(err.Error())
	}
	if n := tagsSize(out); n > MaxTagsSize {
		return nil, apierr.ArgumentInvalid.New(fmt.Sprintf("tags are %d bytes, more than IoT Hub's %d", n, MaxTagsSize))
	}
	return out, nil
}

func normalizeObject(m map[string]any, path string, depth int) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if err := checkTagKey(k); err != nil {
			return nil, fmt.Errorf("tag key %s: %w", strconv.Quote(path+k), err)
		}
		if v == nil {
			return nil, fmt.Errorf("tag %s is null: a null only removes a key in a patch", strconv.Quote(path+k))
		}
		nv, err := normalizeValue(v, path+k, depth)
		if err != nil {
			return nil, err
		}
		out[k] = nv
	}
	return out, nil
}

// normalizeValue checks one value at path, inside an object or array of
// depth depth (the tags object is depth 0).
func normalizeValue(v any, path string, depth int) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil // in an array
	case bool:
		return v, nil
	case string:
		if len(v) > MaxTagStringBytes {
			return nil, fmt.Errorf("tag %s is longer than %d bytes", strconv.Quote(path), MaxTagStringBytes)
		}
		return v, nil
	case json.Number:
		return tagNumber(string(v), path)
	case float64:
		return tagNumber(strconv.FormatFloat(v, 'g', -1, 64), path)
	case int:
		return tagNumber(strconv.Itoa(v), path)
	case int64:
		return tagNumber(strconv.FormatInt(v, 10), path)
	case map[string]any:
		if depth+1 > MaxTagsDepth {
			return nil, fmt.Errorf("tag %s nests deeper than %d", strconv.Quote(path), MaxTagsDepth)
		}
		return normalizeObject(v, path+".", depth+1)
	case []any:
		if depth+1 > MaxTagsDepth {
			return nil, fmt.Errorf("tag %s nests deeper than %d", strconv.Quote(path), MaxTagsDepth)
		}
		out := make([]any, len(v))
		for i, e := range v {
			ne, err := normalizeValue(e, path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = ne
		}
		return out, nil
	}
	return nil, fmt.Errorf("tag %s has a value of type %T, not JSON", strconv.Quote(path), v)
}

// tagNumber reads a number: an integer must be within IoT Hub's range,
// any number within what DynamoDB stores.
func tagNumber(s, path string) (float64, error) {
	if !strings.ContainsAny(s, ".eE") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < MinTagInteger || n > MaxTagInteger {
			return 0, fmt.Errorf("tag %s: integers must be within %d..%d", strconv.Quote(path), MinTagInteger, MaxTagInteger)
		}
		return float64(n), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if a := math.Abs(f); err != nil || a >= maxStoredNumber || (a != 0 && a < minStoredNumber) {
		return 0, fmt.Errorf("tag %s: the number %s is out of range", strconv.Quote(path), s)
	}
	return f, nil
}

func checkTagKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("empty")
	case len(k) > MaxTagKeyBytes:
		return fmt.Errorf("longer than %d bytes", MaxTagKeyBytes)
	case !utf8.ValidString(k):
		return fmt.Errorf("not UTF-8")
	case strings.ContainsAny(k, ".$ "):
		return fmt.Errorf("holds '.', '$' or a space")
	case strings.ContainsFunc(k, unicode.IsControl):
		return fmt.Errorf("holds a control character")
	}
	return nil
}

// tagsSize is IoT Hub's twin size: for every property the length of its
// key plus the size of its value, where a string counts its UTF-8 bytes
// without control characters, a number 8, a boolean 4, and an object or
// array the sizes of what it holds.
func tagsSize(m map[string]any) int {
	n := 0
	for k, v := range m {
		n += stringSize(k) + valueSize(v)
	}
	return n
}

func valueSize(v any) int {
	switch v := v.(type) {
	case string:
		return stringSize(v)
	case float64:
		return 8
	case bool:
		return 4
	case map[string]any:
		return tagsSize(v)
	case []any:
		n := 0
		for _, e := range v {
			n += valueSize(e)
		}
		return n
	}
	return 0
}

func stringSize(s string) int {
	n := len(s)
	for _, r := range s {
		if unicode.IsControl(r) {
			n -= utf8.RuneLen(r)
		}
	}
	return n
}
