package demo

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
