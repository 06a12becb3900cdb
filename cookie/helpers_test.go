package cookie

import "bytes"

// testSecret returns a fixed 32-byte master secret distinct for each n.
func testSecret(n byte) []byte { return bytes.Repeat([]byte{n}, MinSecretSize) }
