package demo

import (
	"encoding/base64"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// Exported for the external tests of this package.

// MaxQty is the most of one product a cart holds.
const MaxQty = maxQty

// SKUs lists the catalogue's products.
func SKUs() []string {
	skus := make([]string, len(catalogue))
	for i, p := range catalogue {
		skus[i] = p.SKU
	}
	return skus
}

// PeakHashes returns the most argon2id computations that ran at once.
func (a *App) PeakHashes() int { return int(a.hashes.peak.Load()) }

// Login abuse limits, for tests that reach them.
const (
	MaxConcurrentHashes = maxConcurrentHashes
	MaxAccountFailures  = maxAccountFailures
	MaxNetworkFailures  = maxNetworkFailures
)

// DroppedFlashes returns how many flash messages did not fit in their
// session.
func (a *App) DroppedFlashes() int { return int(a.droppedFlashes.Load()) }

// SetHashGate replaces the bound on concurrent password checks, for tests
// that need many logins to be checked at once rather than refused.
func SetHashGate(a *App, slots, queue int) { a.hashes = newHashGate(slots, queue) }

// SetCheapPassword gives username the password with argon2id parameters
// a thousand times cheaper than the shop's (the PHC string carries them),
// so that a test can run dozens of logins at once in milliseconds.
func SetCheapPassword(a *App, username, password string) {
	salt := make([]byte, argonSaltLen)
	key := argon2.IDKey([]byte(password), salt, 1, 16, 1, argonKeyLen)
	b64 := base64.RawStdEncoding
	hash := fmt.Sprintf("$argon2id$v=%d$m=16,t=1,p=1$%s$%s", argon2.Version, b64.EncodeToString(salt), b64.EncodeToString(key))
	a.users.mu.Lock()
	defer a.users.mu.Unlock()
	a.users.byName[username].hash = hash
}
