package registry

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/devicehub/devicehub/internal/apierr"
	"github.com/devicehub/devicehub/shared/iothub"
	"github.com/devicehub/devicehub/shared/sas"
	"github.com/devicehub/devicehub/shared/telemetry"
)

// AuthMethodSAS is the iothub-connection-auth-method value for SAS devices,
// as IoT Hub writes it.
// shared/telemetry owns the values: its compact records write them as codes.
const AuthMethodSAS = telemetry.AuthMethodSAS

// Identity is an authenticated device.
type Identity struct {
	DeviceID     string
	GenerationID string
	AuthMethod   string
}

// Getter reads one device (a Store, usually): Get strongly consistently,
// GetEventually from any replica (half the read cost; DynamoDB replicas
// usually agree within a second).
type Getter interface {
	Get(ctx context.Context, id string) (Device, error)
	GetEventually(ctx context.Context, id string) (Device, error)
}

// CALoader reads the hub's CA certificates (a CAStore, usually).
type CALoader interface {
	LoadCAs(ctx context.Context) (CASet, error)
}

// Authenticator checks device credentials (SAS tokens, or X.509 client
// certificates for selfSigned and certificateAuthority devices) and
// owner-policy SAS tokens. A warm function keeps devices and the verified CA
// certificates in a bounded cache for at most CacheTTL and reads devices
// eventually consistently, so a disabled or deleted device, or a deleted or
// replaced CA, is refused at the latest CacheTTL plus DynamoDB's replication
// lag (about a second) after the change; in the process that made the
// change, at once (Invalidate makes the next read of that device strongly
// consistent).
type Authenticator struct {
	host      string // lower case
	devices   Getter
	cas       CALoader // nil: no CA-signed device authenticates
	policy    string
	policyKey *sas.Key
	now       func() time.Time
	ttl       time.Duration
	max       int

	mu          sync.Mutex
	cache       map[string]cached
	invalidated map[string]time.Time // devices this process changed: read strongly until their writes have surely spread
	caPool      *x509.CertPool       // verified CAs, nil when none
	caLoaded    time.Time            // zero: not loaded (or invalidated)
	// gen and caGen count Invalidate and InvalidateCAs calls: a read that
	// was in flight when one came is not cached, since it may predate the
	// change.
	gen, caGen uint64
	loads      uint64 // numbers the cached reads, so a token verified against one is never attached to another
}

// replicationLag bounds how long after a write an eventually consistent read
// may still return the old item, for Invalidate's purpose.
const replicationLag = 5 * time.Second

// cached is a device as authentication needs it, with its keys prepared
// (sas) or its X.509 kind and thumbprints, or the fact that no such device
// is registered (missing).
type cached struct {
	id                 Identity
	enabled            bool
	missing            bool
	primary, secondary *sas.Key
	x509               x509Device // kind "" for sas devices
	loaded             time.Time
	load               uint64        // which read this is (Authenticator.loads)
	token              verifiedToken // sas devices: the last token verified against these keys
}

// verifiedToken is the last SAS token a cached device verified: the header
// as sent and its expiry. A device sends the same token on every request
// until it renews it, so a repeat costs a constant-time comparison instead
// of a parse and an HMAC. The expiry is still checked on every request, and
// the token lives and dies with its cache entry (the TTL, Invalidate,
// eviction): a disabled device, or one whose keys changed, is refused as
// soon as it is today. One token per device keeps the memory bounded by the
// device cache.
type verifiedToken struct {
	header string
	expiry time.Time
}

// matches reports whether header is the verified token, comparing in
// constant time: the stored header holds a valid signature.
func (t *verifiedToken) matches(header string) bool {
	return t.header != "" && subtle.ConstantTimeCompare([]byte(t.header), []byte(header)) == 1
}

// maxMissingTTL bounds how long "not registered" is remembered: long enough
// that a device retrying with an unknown id (or a probe repeating one) costs
// no registry read per request, short enough that a device created in another
// process is accepted within seconds.
const maxMissingTTL = 5 * time.Second

// AuthConfig configures an Authenticator.
type AuthConfig struct {
	HubHost   string
	Devices   Getter
	CAs       CALoader // optional: verified CAs for certificateAuthority devices
	PolicyKey string   // base64 key of the owner policy
	Policy    string   // its name, e.g. iothubowner
	Now       func() time.Time
	CacheTTL  time.Duration // 0 disables caching
	CacheSize int           // entries; default 10,000
}

// NewAuthenticator builds an Authenticator.
// An empty PolicyKey means no owner policy: Service then refuses every token
// (the device-facing function holds no owner key).
func NewAuthenticator(c AuthConfig) (*Authenticator, error) {
	var policyKey *sas.Key
	if c.PolicyKey != "" {
		key, err := base64.StdEncoding.DecodeString(c.PolicyKey)
		if err != nil || len(key) == 0 {
			return nil, apierr.ServerError.New("owner policy key is not base64")
		}
		policyKey = sas.NewKey(key)
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 10_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Authenticator{
		host: strings.ToLower(c.HubHost), devices: c.Devices, cas: c.CAs, policy: c.Policy, policyKey: policyKey,
		now: c.Now, ttl: c.CacheTTL, max: c.CacheSize, cache: make(map[string]cached), invalidated: make(map[string]time.Time),
	}, nil
}

// unauthorized is the one answer to every failed credential: the caller
// learns nothing about which check failed (so device ids cannot be
// enumerated), while reason goes with the error as its cause, into the log.
func unauthorized(reason string) error {
	return apierr.IotHubUnauthorizedAccess.Wrap("the credentials are not valid for this resource", errors.New(reason))
}

// verify checks tok against keys in turn (a device's primary then secondary
// key) and words the refusal; mismatch is the words when no key signed it.
func verify(tok sas.Token, now time.Time, mismatch string, keys ...*sas.Key) error {
	var err error
	for _, k := range keys {
		if err = tok.Verify(k, now); !errors.Is(err, sas.ErrSignature) {
			break
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sas.ErrExpired):
		return unauthorized("token expired")
	default:
		return unauthorized(mismatch)
	}
}

// Device authenticates a request for deviceID: by the SAS token in the
// Authorization header for a sas device, by the client certificate chain in
// ctx (WithClientChain) for an X.509 device. A device is held to its own
// kind: a token for an X.509 device, or a certificate alone for a sas
// device, is refused.
func (a *Authenticator) Device(ctx context.Context, header, deviceID string) (Identity, error) {
	if header != "" {
		// The token this device's cached entry verified last: no parse, no HMAC.
		now := a.now()
		if c, ok := a.fresh(deviceID, now); ok && c.token.matches(header) {
			switch {
			case !now.Before(c.token.expiry):
				return Identity{}, unauthorized("token expired")
			case !c.enabled:
				return Identity{}, unauthorized("device is disabled")
			}
			return c.id, nil
		}
	}
	chain := ClientChain(ctx)
	var tok sas.Token
	if header != "" || len(chain) == 0 {
		var err error
		if tok, err = sas.Parse(header); err != nil {
			return Identity{}, unauthorized("missing or malformed SharedAccessSignature")
		}
		if !a.deviceResource(tok.Resource, deviceID) {
			return Identity{}, unauthorized("token resource does not name this hub and device")
		}
	}
	now := a.now()
	c, err := a.lookup(ctx, deviceID, now)
	if err != nil {
		return Identity{}, err
	}
	if c.x509.kind != "" {
		if err := a.verifyX509(ctx, c, chain, header, deviceID, now); err != nil {
			return Identity{}, err
		}
	} else {
		if header == "" {
			return Identity{}, unauthorized("device authenticates with sas and presented no token")
		}
		if err := verify(tok, now, "signature does not match a device key", c.primary, c.secondary); err != nil {
			return Identity{}, err
		}
		if c.enabled {
			a.rememberToken(deviceID, c.load, header, tok.Expiry)
		}
	}
	if !c.enabled {
		return Identity{}, unauthorized("device is disabled")
	}
	return c.id, nil
}

// rememberToken attaches a token verified against the cached read load to
// that read's entry, if it is still the cached one.
func (a *Authenticator) rememberToken(id string, load uint64, header string, expiry time.Time) {
	if a.ttl <= 0 || load == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.cache[id]; ok && c.load == load && c.token.header != header {
		c.token = verifiedToken{header: strings.Clone(header), expiry: expiry}
		a.cache[id] = c
	}
}

// verifyX509 checks an X.509 device's client certificate chain.
func (a *Authenticator) verifyX509(ctx context.Context, c cached, chain []*x509.Certificate, header, deviceID string, now time.Time) error {
	switch {
	case header != "":
		return unauthorized("device authenticates with X.509, not with a SAS token")
	case len(chain) == 0:
		return unauthorized("device authenticates with X.509 and presented no client certificate")
	}
	var roots *x509.CertPool
	if c.x509.kind == iothub.AuthCertificateAuthority {
		var err error
		if roots, err = a.verifiedCAs(ctx, now); err != nil {
			return err
		}
	}
	return verifyChain(chain, deviceID, c.x509, roots, now)
}

// verifiedCAs returns the pool of verified CA certificates, from the cache
// while it is fresh.
func (a *Authenticator) verifiedCAs(ctx context.Context, now time.Time) (*x509.CertPool, error) {
	if a.cas == nil {
		return nil, nil
	}
	a.mu.Lock()
	pool, loaded := a.caPool, a.caLoaded
	a.mu.Unlock()
	if a.ttl > 0 && !loaded.IsZero() && now.Sub(loaded) < a.ttl {
		return pool, nil
	}
	a.mu.Lock()
	gen := a.caGen
	a.mu.Unlock()
	set, err := a.cas.LoadCAs(ctx)
	if err != nil {
		return nil, err
	}
	pool = verifiedPool(set)
	if a.ttl > 0 {
		a.mu.Lock()
		if a.caGen == gen {
			a.caPool, a.caLoaded = pool, now
		}
		a.mu.Unlock()
	}
	return pool, nil
}

// InvalidateCAs drops the cached CA certificates.
func (a *Authenticator) InvalidateCAs() {
	a.mu.Lock()
	a.caPool, a.caLoaded = nil, time.Time{}
	a.caGen++
	a.mu.Unlock()
}

// deviceResource reports whether res is "{host}/devices/{deviceID}", with an
// optional trailing slash, ignoring case as IoT Hub does.
func (a *Authenticator) deviceResource(res, deviceID string) bool {
	const devices = "/devices/"
	res = strings.TrimSuffix(res, "/")
	h, d := len(a.host), len(a.host)+len(devices)
	return len(res) == d+len(deviceID) &&
		strings.EqualFold(res[:h], a.host) &&
		strings.EqualFold(res[h:d], devices) &&
		strings.EqualFold(res[d:], deviceID)
}

// Service authenticates an owner-policy token (skn = policy name) for the
// service resource path (the request path, e.g. /devices/B or
// /messages/servicebound/feedback). As in IoT Hub, a token's sr is a
// resource-URI prefix: sr = host grants the whole hub, sr = host/devices/A
// grants only what lies under /devices/A. The host compares without case;
// the path compares exactly and only at segment boundaries, so
// host/devices/A grants neither /devices/AB nor /devices.
func (a *Authenticator) Service(_ context.Context, header, resource string) error {
	tok, err := sas.Parse(header)
	if err != nil {
		return unauthorized("missing or malformed SharedAccessSignature")
	}
	if a.policyKey == nil {
		return unauthorized("this function holds no owner policy key")
	}
	if tok.KeyName != a.policy {
		return unauthorized("token is not signed by policy " + a.policy)
	}
	if !a.grants(tok.Resource, resource) {
		return unauthorized("token scope " + tok.Resource + " does not cover " + resource)
	}
	return verify(tok, a.now(), "signature does not match the policy key", a.policyKey)
}

// grants reports whether the token scope sr (host[/path]) covers the request
// path: the scope's path, without a trailing slash, must equal the request
// path or be followed in it by a "/".
func (a *Authenticator) grants(sr, path string) bool {
	if len(sr) < len(a.host) || !strings.EqualFold(sr[:len(a.host)], a.host) {
		return false
	}
	scope := strings.TrimSuffix(sr[len(a.host):], "/")
	if scope == "" {
		return true
	}
	if scope[0] != '/' || !strings.HasPrefix(path, scope) {
		return false
	}
	return len(path) == len(scope) || path[len(scope)] == '/'
}

// Invalidate drops a device from the cache.
func (a *Authenticator) Invalidate(deviceID string) {
	a.mu.Lock()
	delete(a.cache, deviceID)
	if len(a.invalidated) >= a.max {
		clear(a.invalidated) // bounded; losing one only costs a possibly stale read
	}
	a.invalidated[deviceID] = a.now()
	a.gen++
	a.mu.Unlock()
}

// lookup returns the device from the cache while it is fresh, else from the
// registry.
func (a *Authenticator) lookup(ctx context.Context, id string, now time.Time) (cached, error) {
	c, ok := a.fresh(id, now)
	if !ok {
		var err error
		if c, err = a.load(ctx, id, now); err != nil {
			return cached{}, err
		}
	}
	if c.missing {
		return cached{}, unauthorized("device " + id + " is not registered")
	}
	return c, nil
}

// load reads the device from the registry and caches what it found, a
// missing device included.
func (a *Authenticator) load(ctx context.Context, id string, now time.Time) (cached, error) {
	get := a.devices.GetEventually
	a.mu.Lock()
	gen := a.gen
	if at, ok := a.invalidated[id]; ok {
		if now.Sub(at) < replicationLag {
			get = a.devices.Get
		} else {
			delete(a.invalidated, id)
		}
	}
	a.mu.Unlock()
	d, err := get(ctx, id)
	if err != nil {
		if apierr.KindOf(err) == apierr.NotFound {
			c := cached{missing: true, loaded: now}
			a.remember(id, &c, now, gen)
			return c, nil
		}
		return cached{}, err
	}
	c := cached{
		id:      Identity{DeviceID: d.DeviceID, GenerationID: d.GenerationID},
		enabled: d.Status == StatusEnabled, loaded: now,
	}
	switch d.Auth() {
	case iothub.AuthSAS:
		p, err1 := base64.StdEncoding.DecodeString(d.PrimaryKey)
		s, err2 := base64.StdEncoding.DecodeString(d.SecondaryKey)
		if err1 != nil || err2 != nil || len(p) == 0 || len(s) == 0 {
			return cached{}, apierr.ServerError.New("stored device key is not base64")
		}
		c.id.AuthMethod, c.primary, c.secondary = AuthMethodSAS, sas.NewKey(p), sas.NewKey(s)
	case iothub.AuthSelfSigned:
		c.id.AuthMethod = AuthMethodX509Certificate
		c.x509 = x509Device{kind: iothub.AuthSelfSigned, thumbprints: []string{d.PrimaryThumbprint}}
		if d.SecondaryThumbprint != "" {
			c.x509.thumbprints = append(c.x509.thumbprints, d.SecondaryThumbprint)
		}
	case iothub.AuthCertificateAuthority:
		c.id.AuthMethod = AuthMethodX509CA
		c.x509 = x509Device{kind: iothub.AuthCertificateAuthority}
	default:
		return cached{}, apierr.ServerError.New("stored device has an unknown authentication type " + d.AuthType)
	}
	a.remember(id, &c, now, gen)
	return c, nil
}

// fresh returns the cached device if it was loaded less than the TTL ago.
func (a *Authenticator) fresh(id string, now time.Time) (cached, bool) {
	if a.ttl <= 0 {
		return cached{}, false
	}
	a.mu.Lock()
	c, ok := a.cache[id]
	a.mu.Unlock()
	return c, ok && now.Sub(c.loaded) < a.ttlOf(c)
}

// ttlOf is how long c may be served from the cache.
func (a *Authenticator) ttlOf(c cached) time.Duration {
	if c.missing {
		return min(a.ttl, maxMissingTTL)
	}
	return a.ttl
}

// remember caches c, numbering it, evicting to stay within the bound.
func (a *Authenticator) remember(id string, c *cached, now time.Time, gen uint64) {
	if a.ttl <= 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen {
		return // an Invalidate came while c was being read: c may predate it
	}
	a.loads++
	c.load = a.loads
	if len(a.cache) >= a.max {
		// Evict expired entries first; if none, drop an arbitrary one.
		for k, v := range a.cache {
			if now.Sub(v.loaded) >= a.ttlOf(v) {
				delete(a.cache, k)
			}
		}
		for k := range a.cache {
			if len(a.cache) < a.max {
				break
			}
			delete(a.cache, k)
		}
	}
	a.cache[id] = *c
}
