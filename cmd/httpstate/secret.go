package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/httpstate/httpstate/cookie"
)

// loadSecret returns the shop's master secret: $HTTPSTATE_SECRET if set,
// else the contents of path, which is created with a fresh random secret
// if it does not exist. created reports that it was.
//
// The file is written under a temporary name and linked into place, so
// two servers starting at once in the same directory end up with the
// same secret rather than one overwriting the other's.
func loadSecret(path string) (secret []byte, created bool, err error) {
	if env := os.Getenv("HTTPSTATE_SECRET"); env != "" {
		if len(env) < cookie.MinSecretSize {
			return nil, false, fmt.Errorf("HTTPSTATE_SECRET must be at least %d bytes; generate one with: openssl rand -base64 32", cookie.MinSecretSize)
		}
		return []byte(env), false, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createSecret(path); err != nil {
			return nil, false, err
		}
		created = true
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < cookie.MinSecretSize {
		return nil, false, fmt.Errorf("secret file %s holds fewer than %d bytes", path, cookie.MinSecretSize)
	}
	return []byte(s), created, nil
}

func createSecret(path string) error {
	var raw [32]byte
	rand.Read(raw[:])
	tmp, err := os.CreateTemp(filepath.Dir(path), ".httpstate-secret-*")
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(base64.StdEncoding.EncodeToString(raw[:]) + "\n")
	if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	// Link fails if the file appeared meanwhile; the caller then reads
	// the other server's secret.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("secret: %w", err)
	}
	return nil
}
