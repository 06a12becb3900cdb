package bench

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"

	"github.com/alexedwards/scs/v2"
	"github.com/gorilla/sessions"
	"github.com/httpstate/httpstate/session"
)

// UserAgent is sent with every benchmark request. Real browsers always
// send one, and httpstate stores it (truncated) for the device list, so a
// request without it would understate httpstate's writing cost.
const UserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// Key is the session key every contestant reads and writes, and Value the
// int a writing request puts under it.
const (
	Key   = "n"
	Value = 42
)

// A Contestant is one library's session middleware around the common
// handler work: a GET reads the int under Key from the session and writes
// it in decimal; a POST puts Value under Key and writes "ok". Nothing else
// differs between contestants.
type Contestant struct {
	Name    string
	Handler http.Handler
}

// writeInt writes n in decimal without fmt, so the handler's own cost
// stays small next to the middleware's.
func writeInt(w http.ResponseWriter, n int) {
	var buf [20]byte
	w.Write(strconv.AppendInt(buf[:0], int64(n), 10))
}

var ok = []byte("ok")

// Bare is the floor: the same handler with no session at all. A GET
// writes 0, as a session that holds nothing would.
func Bare() Contestant {
	return Contestant{Name: "bare", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.Write(ok)
			return
		}
		writeInt(w, 0)
	})}
}

// Httpstate wraps the handler in a session.Manager with default options
// over store.
func Httpstate(name string, store session.Store) (Contestant, error) {
	return httpstate(name, store, func(s *session.Session) error { return s.Put(Key, Value) })
}

// httpstate is the handler of both workloads behind a session.Manager
// with default options over store: a GET writes the int under Key in
// decimal, a POST changes the session with post and writes "ok".
func httpstate(name string, store session.Store, post func(*session.Session) error) (Contestant, error) {
	m, err := session.New(store, session.Options{})
	if err != nil {
		return Contestant{}, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if r.Method == http.MethodPost {
			if err := post(s); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Write(ok)
			return
		}
		n, _ := session.Get[int](s, Key)
		writeInt(w, n)
	})
	return Contestant{Name: name, Handler: m.Middleware(h)}, nil
}

// SCS wraps the handler in sm.LoadAndSave, reading with GetInt and
// writing with Put, as scs's documentation shows.
func SCS(name string, sm *scs.SessionManager) Contestant {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			sm.Put(r.Context(), Key, Value)
			w.Write(ok)
			return
		}
		writeInt(w, sm.GetInt(r.Context(), Key))
	})
	return Contestant{Name: name, Handler: sm.LoadAndSave(h)}
}

// Gorilla gets the session named "session" from store, reads the int
// with a type assertion and writes with session.Save, as gorilla's
// documentation shows. gorilla has no middleware: the handler calls the
// store itself.
func Gorilla(name string, store sessions.Store) Contestant {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, "session")
		if err != nil && s == nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if r.Method == http.MethodPost {
			s.Values[Key] = Value
			if err := s.Save(r, w); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Write(ok)
			return
		}
		n, _ := s.Values[Key].(int)
		writeInt(w, n)
	})
	return Contestant{Name: name, Handler: h}
}

// The hot-session workload's handler: a GET reads the counter under Key
// and writes it in decimal; a POST adds one to it and writes "ok". Each
// library does the increment the way its documentation shows for a
// read-modify-write.

// HttpstateCounter is the counter handler behind a session.Manager with
// default options over store. A POST increments with session.Update,
// which httpstate documents for counters: if another request saves the
// session first, the increment is replayed on that request's value.
func HttpstateCounter(name string, store session.Store) (Contestant, error) {
	return httpstate(name, store, func(s *session.Session) error {
		_, err := session.Update(s, Key, func(n int) int { return n + 1 })
		return err
	})
}

// SCSCounter is the counter handler behind sm.LoadAndSave. scs has no
// atomic update: a POST reads with GetInt and writes the sum with Put, and
// the last request to commit overwrites the others.
func SCSCounter(name string, sm *scs.SessionManager) Contestant {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			sm.Put(r.Context(), Key, sm.GetInt(r.Context(), Key)+1)
			w.Write(ok)
			return
		}
		writeInt(w, sm.GetInt(r.Context(), Key))
	})
	return Contestant{Name: name, Handler: sm.LoadAndSave(h)}
}

// NewRequest returns the request every benchmark sends: method on "/",
// the shared User-Agent, and cookie (a "name=value" pair) if not empty.
func NewRequest(method, cookie string) *http.Request {
	r := httptest.NewRequest(method, "/", nil)
	r.Header.Set("User-Agent", UserAgent)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	return r
}

// ReadCounter sends a GET with cookie through h and returns the int it
// answers: the counter of a counter handler.
func ReadCounter(h http.Handler, cookie string) (int, error) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, NewRequest(http.MethodGet, cookie))
	if rec.Code != http.StatusOK {
		return 0, fmt.Errorf("bench: reading request: status %d: %s", rec.Code, rec.Body)
	}
	n, err := strconv.Atoi(rec.Body.String())
	if err != nil {
		return 0, fmt.Errorf("bench: reading request: body %q is not a counter", rec.Body)
	}
	return n, nil
}

// CounterSession sends an incrementing request with no cookie through h,
// a counter handler, so that a session holding 1 exists, checks that a
// GET reads 1 back, and returns the session cookie as a "name=value"
// pair.
func CounterSession(h http.Handler) (string, error) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, NewRequest(http.MethodPost, ""))
	if rec.Code != http.StatusOK {
		return "", fmt.Errorf("bench: incrementing request: status %d: %s", rec.Code, rec.Body)
	}
	cs := rec.Result().Cookies()
	if len(cs) != 1 {
		return "", fmt.Errorf("%w (got %d cookies)", ErrNoCookie, len(cs))
	}
	cookie := cs[0].Name + "=" + cs[0].Value
	if n, err := ReadCounter(h, cookie); err != nil || n != 1 {
		return "", fmt.Errorf("bench: a new counter reads %d, want 1 (%v)", n, err)
	}
	return cookie, nil
}

// ErrNoCookie reports a contestant that answered a writing request
// without setting its session cookie.
var ErrNoCookie = errors.New("bench: no session cookie in the response")

// SessionCookie sends a writing request with no cookie through h, so that
// a session holding Value exists, and returns the session cookie as a
// "name=value" pair ready for a Cookie header. It then checks that a GET
// with the cookie reads Value back, so a benchmark can never measure a
// contestant that silently lost its session.
func SessionCookie(h http.Handler) (string, error) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, NewRequest(http.MethodPost, ""))
	if rec.Code != http.StatusOK {
		return "", fmt.Errorf("bench: writing request: status %d: %s", rec.Code, rec.Body)
	}
	cs := rec.Result().Cookies()
	if len(cs) != 1 {
		return "", fmt.Errorf("%w (got %d cookies)", ErrNoCookie, len(cs))
	}
	cookie := cs[0].Name + "=" + cs[0].Value
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, NewRequest(http.MethodGet, cookie))
	if got, want := rec.Body.String(), strconv.Itoa(Value); rec.Code != http.StatusOK || got != want {
		return "", fmt.Errorf("bench: reading request: status %d, body %q, want %q", rec.Code, got, want)
	}
	return cookie, nil
}
