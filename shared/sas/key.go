package sas

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// Key is a SAS signing key (a device key or a policy key, raw bytes) ready to
// verify many tokens. It keys HMAC-SHA256 once and pools the keyed states, so
// a verification with a Key kept across requests does not allocate. A Key is
// safe for concurrent use; like any sync.Pool, its pooled states may be
// dropped at a garbage collection, and the next use keys a fresh one.
type Key struct {
	raw  []byte
	macs sync.Pool // of *keyedMAC
}

// keyedMAC is an HMAC keyed with Key.raw (its Reset restores the keyed
// state) and scratch space, so that signing allocates nothing.
type keyedMAC struct {
	h   hash.Hash
	msg []byte
	sum [sha256.Size]byte
}

// NewKey prepares key (raw bytes, already base64-decoded). It keeps a copy.
func NewKey(key []byte) *Key {
	return &Key{raw: bytes.Clone(key)}
}

// sign sets out to the MAC of the string IoT Hub signs.
func (k *Key) sign(out *[sha256.Size]byte, rawResource, rawExpiry string) {
	m, _ := k.macs.Get().(*keyedMAC)
	if m == nil {
		m = newKeyedMAC(k.raw)
	}
	m.sign(out, rawResource, rawExpiry)
	m.h.Reset() // back to the keyed state for the next use
	k.macs.Put(m)
}

func newKeyedMAC(key []byte) *keyedMAC {
	return &keyedMAC{h: hmac.New(sha256.New, key)}
}

// sign sets out to HMAC-SHA256(key, rawResource + "\n" + rawExpiry), the
// string IoT Hub signs. m must be in its keyed state: new, or Reset.
func (m *keyedMAC) sign(out *[sha256.Size]byte, rawResource, rawExpiry string) {
	m.msg = append(append(append(m.msg[:0], rawResource...), '\n'), rawExpiry...)
	m.h.Write(m.msg)
	*out = [sha256.Size]byte(m.h.Sum(m.sum[:0]))
}
