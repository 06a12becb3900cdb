package dynamodb

// WithStep makes the Store call f at named points of a Save
// ("index-written" after a save wrote a user's index entry and before it
// writes the record, "record-written" right after the record), so tests
// can run other operations at exactly those points.
func WithStep(f func(step, id string)) Option {
	return func(c *config) { c.step = f }
}
