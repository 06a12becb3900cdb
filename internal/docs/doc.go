// Package docs checks that the project's documents tell the truth: every
// test SECURITY.md cites as proof exists. It has no code outside its tests.
package docs
