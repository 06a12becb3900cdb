package demo

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Account is a demo user. The shop keeps accounts in memory and hashes
// their passwords with argon2id when it starts.
type Account struct {
	Username string
	Name     string
	Password string
}

// DefaultAccounts are the accounts a newcomer logs in with; serve prints
// them at start-up.
var DefaultAccounts = []Account{
	{Username: "alice", Name: "Alice Liddell", Password: "correct horse"},
	{Username: "bob", Name: "Bob Dobbs", Password: "battery staple"},
}

// Password rules, after NIST SP 800-63B and OWASP ASVS: a minimum length,
// a generous maximum, and no composition rules.
const (
	minPasswordLen = 12
	maxPasswordLen = 128
)

// argon2id parameters: OWASP's recommended minimum (19 MiB, two passes,
// one lane), which costs a few tens of milliseconds per login.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

var errBadHash = errors.New("demo: malformed password hash")

// hashPassword returns password's argon2id hash in the PHC string format,
// which records the parameters so that they can change later.
func hashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// checkPassword reports whether password matches hash, in time that does
// not depend on how much of it matches.
func checkPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	var mem, iter uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iter, &threads); err != nil || iter == 0 || threads == 0 {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, iter, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// user is an account as the shop keeps it.
type user struct {
	username string
	name     string
	hash     string
}

// users is the in-memory account database.
type users struct {
	mu     sync.RWMutex
	byName map[string]*user
	// decoy is checked when the username is unknown, so that a login for
	// a user who does not exist takes as long as one with a wrong password.
	decoy string
}

// startupHashes remembers the hashes made for configured accounts, so a
// process that builds many shops (the tests) hashes each password once.
// Passwords changed later are never memoised.
var startupHashes sync.Map // password -> hash

func startupHash(password string) string {
	if h, ok := startupHashes.Load(password); ok {
		return h.(string)
	}
	h, _ := startupHashes.LoadOrStore(password, hashPassword(password))
	return h.(string)
}

func newUsers(accounts []Account) (*users, error) {
	u := &users{byName: make(map[string]*user, len(accounts)), decoy: startupHash("decoy password, never matches")}
	for _, a := range accounts {
		name := strings.ToLower(a.Username)
		if name == "" || a.Password == "" {
			return nil, errors.New("demo: an account needs a username and a password")
		}
		if _, dup := u.byName[name]; dup {
			return nil, fmt.Errorf("demo: account %q listed twice", name)
		}
		display := a.Name
		if display == "" {
			display = a.Username
		}
		u.byName[name] = &user{username: name, name: display, hash: startupHash(a.Password)}
	}
	return u, nil
}

// lookup returns the account with the given username, or nil.
func (u *users) lookup(username string) *user {
	u.mu.RLock()
	defer u.mu.RUnlock()
	acc := u.byName[strings.ToLower(username)]
	if acc == nil {
		return nil
	}
	c := *acc
	return &c
}

// authenticate returns the account if password is its password, or nil.
// It does the same work whether or not the username exists, within gate:
// it returns errBusy, having checked nothing, if gate has no room.
func (u *users) authenticate(ctx context.Context, gate *hashGate, username, password string) (*user, error) {
	acc := u.lookup(username)
	hash := u.decoy
	if acc != nil {
		hash = acc.hash
	}
	var ok bool
	var err error
	if gerr := gate.do(ctx, func() { ok, err = checkPassword(hash, password) }); gerr != nil {
		return nil, gerr
	}
	if err != nil || !ok || acc == nil {
		return nil, nil
	}
	return acc, nil
}

// setPassword replaces username's password, hashing it within gate.
func (u *users) setPassword(ctx context.Context, gate *hashGate, username, password string) error {
	var hash string
	if err := gate.do(ctx, func() { hash = hashPassword(password) }); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	acc := u.byName[username]
	if acc == nil {
		return fmt.Errorf("demo: no account %q", username)
	}
	acc.hash = hash
	return nil
}

// validPassword checks a new password against the rules above and returns
// the message to show if it breaks one.
func validPassword(p string) (msg string, ok bool) {
	n := utf8.RuneCountInString(p)
	switch {
	case n < minPasswordLen:
		return "The new password must be at least 12 characters long.", false
	case n > maxPasswordLen:
		return "The new password must be at most 128 characters long.", false
	}
	return "", true
}
