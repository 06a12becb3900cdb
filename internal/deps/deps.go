// Package deps pins dependencies while the packages that use them are written. Temporary.
package deps

import (
	_ "github.com/bradfitz/gomemcache/memcache"
	_ "github.com/chromedp/chromedp"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/go-jose/go-jose/v4/jwt"
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/pgconn"
	_ "github.com/redis/rueidis"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/crypto/bcrypt"
	_ "golang.org/x/crypto/chacha20poly1305"
	_ "golang.org/x/crypto/hkdf"
	_ "golang.org/x/sync/errgroup"
	_ "modernc.org/sqlite"
)
