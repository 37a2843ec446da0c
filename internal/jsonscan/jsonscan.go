// Package jsonscan holds the byte scanning that the ingress path's
// hand-written JSON readers share (internal/app's API Gateway event reader,
// internal/hubapi's batch reader).
package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// PlainRun returns the length of the longest prefix of b whose bytes stand
// for themselves inside a JSON string: printable ASCII other than '"' and
// '\\' (0x20-0x7f less those two). It tests eight bytes at a time: base64
// bodies and tokens are long runs of such bytes.
func PlainRun[S []byte | string](b S) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64([]byte(b[i : i+8]))
		q := x ^ ('"' * ones)
		s := x ^ ('\\' * ones)
		// A byte of t has its high bit set where x's byte is below 0x20,
		// is '"' or '\\' (a zero byte of q or s), or is 0x80 or above. A
		// subtraction borrows only from a byte that hit, into the bytes
		// above it, so the lowest flagged byte is exact.
		t := (x - 0x20*ones) | (q - ones) | (s - ones) | x
		if t&highs != 0 {
			return i + bits.TrailingZeros64(t&highs)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			break
		}
	}
	return i
}
