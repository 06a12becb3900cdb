package postgres

// WithAfterSweep makes the Store call f after every run of its background
// sweeper, so tests can wait for a sweep instead of sleeping.
func WithAfterSweep(f func()) Option {
	return func(c *config) { c.afterSweep = f }
}
