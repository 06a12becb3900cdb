package cookie

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

type prefs struct {
	Theme string `json:"theme"`
	Lang  string `json:"lang,omitempty"`
}

// prefsSite is a TLS server whose handlers read and write a prefs cookie,
// and a client with a real cookie jar, as one browser.
type prefsSite struct {
	t      *testing.T
	srv    *httptest.Server
	client *http.Client
	jar    *cookiejar.Jar
	value  *Value[prefs]

	// mu guards value's fields and what the last request's handler saw:
	// the race detector does not see the order that the network imposes.
	mu    sync.Mutex
	got   prefs
	stale bool
	err   error
}

func newPrefsSite(t *testing.T, v *Value[prefs]) *prefsSite {
	s := &prefsSite{t: t, value: v}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.got, s.stale, s.err = v.Get(r)
		switch r.URL.Path {
		case "/set":
			if err := v.Set(w, prefs{Theme: r.URL.Query().Get("theme")}); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		case "/reissue":
			if s.err == nil && s.stale {
				if err := v.Set(w, s.got); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
				}
			}
		case "/delete":
			if err := v.Delete(w); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		}
	}))
	t.Cleanup(s.srv.Close)
	s.jar, _ = cookiejar.New(nil)
	s.client = s.srv.Client()
	s.client.Jar = s.jar
	return s
}

func (s *prefsSite) get(path string) *http.Response {
	s.t.Helper()
	resp, err := s.client.Get(s.srv.URL + path)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	return resp
}

// seen returns what the last request's handler read.
func (s *prefsSite) seen() (prefs, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got, s.stale, s.err
}

func (s *prefsSite) setCodec(c Codec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.value.Codec = c
}

func (s *prefsSite) jarValue() string {
	u, _ := url.Parse(s.srv.URL)
	for _, c := range s.jar.Cookies(u) {
		if c.Name == s.value.Name {
			return c.Value
		}
	}
	return ""
}

func TestValueRoundTripThroughABrowser(t *testing.T) {
	for _, k := range codecKinds {
		t.Run(k.name, func(t *testing.T) {
			v := &Value[prefs]{Name: "__Host-prefs", Codec: mustCodec(t, k, testSecret(1)), MaxAge: 30 * 24 * time.Hour}
			site := newPrefsSite(t, v)

			site.get("/")
			if _, _, err := site.seen(); !errors.Is(err, http.ErrNoCookie) {
				t.Fatalf("first visit: error %v, want http.ErrNoCookie", err)
			}
			resp := site.get("/set?theme=dark")
			sc := resp.Header.Get("Set-Cookie")
			for _, want := range []string{"__Host-prefs=", "Path=/", "Max-Age=2592000", "Expires=", "HttpOnly", "Secure", "SameSite=Lax"} {
				if !strings.Contains(sc, want) {
					t.Errorf("Set-Cookie %q lacks %q", sc, want)
				}
			}
			site.get("/")
			if got, stale, err := site.seen(); err != nil || stale || got != (prefs{Theme: "dark"}) {
				t.Fatalf("next visit: %+v, stale %v, %v", got, stale, err)
			}
			site.get("/delete")
			if site.jarValue() != "" {
				t.Fatal("Delete left the cookie in the browser")
			}
			site.get("/")
			if _, _, err := site.seen(); !errors.Is(err, http.ErrNoCookie) {
				t.Fatalf("after Delete: error %v, want http.ErrNoCookie", err)
			}
		})
	}
}

func TestValueReissuedAfterRotation(t *testing.T) {
	a, b := testSecret(1), testSecret(2)
	old, _ := NewSealer(a)
	v := &Value[prefs]{Name: "__Host-prefs", Codec: old, MaxAge: time.Hour}
	site := newPrefsSite(t, v)
	site.get("/set?theme=dark")
	before := site.jarValue()

	rotated, _ := NewSealer(b, a)
	site.setCodec(rotated)
	site.get("/reissue")
	if got, stale, err := site.seen(); err != nil || !stale || got.Theme != "dark" {
		t.Fatalf("after rotation: %+v, stale %v, %v", got, stale, err)
	}
	if after := site.jarValue(); after == before {
		t.Fatal("the stale value was not re-issued")
	}
	retired, _ := NewSealer(b)
	site.setCodec(retired)
	site.get("/")
	if got, stale, err := site.seen(); err != nil || stale || got.Theme != "dark" {
		t.Fatalf("once the old key is removed: %+v, stale %v, %v", got, stale, err)
	}
}

func TestValueGetErrors(t *testing.T) {
	s, _ := NewSealer(testSecret(1))
	v := &Value[prefs]{Name: "__Host-prefs", Codec: s, MaxAge: time.Hour}
	good, _ := s.Encode(v.Name, []byte(`{"theme":"dark"}`), time.Hour)
	notJSON, _ := s.Encode(v.Name, []byte(`not json`), time.Hour)
	wrongType, _ := s.Encode(v.Name, []byte(`["a list"]`), time.Hour)
	otherName, _ := s.Encode("__Host-other", []byte(`{"theme":"dark"}`), time.Hour)
	other, _ := NewSealer(testSecret(2))
	otherKey, _ := other.Encode(v.Name, []byte(`{"theme":"dark"}`), time.Hour)
	tests := []struct {
		name   string
		header string
		want   error // nil: decodes to dark
	}{
		{"no Cookie header", "", http.ErrNoCookie},
		{"only other cookies", "a=b; c=d", http.ErrNoCookie},
		{"a good value", "__Host-prefs=" + good, nil},
		{"a good value in double quotes", `__Host-prefs="` + good + `"`, nil},
		{"a garbage value", "__Host-prefs=garbage", ErrInvalid},
		{"an empty value", "__Host-prefs=", ErrInvalid},
		{"a value that is not JSON", "__Host-prefs=" + notJSON, ErrInvalid},
		{"JSON of another type", "__Host-prefs=" + wrongType, ErrInvalid},
		{"a value moved from another cookie", "__Host-prefs=" + otherName, ErrInvalid},
		{"a value from another key", "__Host-prefs=" + otherKey, ErrUnknownKey},
		{"a planted value before the good one", "__Host-prefs=garbage; __Host-prefs=" + good, nil},
		{"a good value before a planted one", "__Host-prefs=" + good + "; __Host-prefs=garbage", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.header != "" {
				r.Header.Set("Cookie", tt.header)
			}
			got, _, err := v.Get(r)
			if tt.want == nil {
				if err != nil || got.Theme != "dark" {
					t.Fatalf("got %+v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if got != (prefs{}) {
				t.Fatalf("returned %+v with an error", got)
			}
		})
	}
}

func TestValueBrowserSessionOmitsLifetime(t *testing.T) {
	s, _ := NewSealer(testSecret(1))
	v := &Value[prefs]{Name: "__Host-prefs", Codec: s, MaxAge: time.Hour, BrowserSession: true}
	w := httptest.NewRecorder()
	if err := v.Set(w, prefs{Theme: "dark"}); err != nil {
		t.Fatal(err)
	}
	sc := w.Header().Get("Set-Cookie")
	if strings.Contains(sc, "Max-Age") || strings.Contains(sc, "Expires") {
		t.Fatalf("browser-session cookie %q has a lifetime", sc)
	}
	// The value inside still expires.
	s.now = func() time.Time { return time.Now().Add(time.Hour + time.Second) }
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", sc[:strings.IndexByte(sc, ';')])
	if _, _, err := v.Get(r); !errors.Is(err, ErrExpired) {
		t.Fatalf("an hour later: error %v, want ErrExpired", err)
	}
}

func TestValueSetErrorsAddNoHeader(t *testing.T) {
	s, _ := NewSealer(testSecret(1))
	tests := []struct {
		name  string
		value Value[map[string]any]
		v     map[string]any
		want  error
	}{
		{"too large", Value[map[string]any]{Name: "__Host-prefs", Codec: s, MaxAge: time.Hour}, map[string]any{"x": strings.Repeat("a", MaxSize)}, ErrTooLarge},
		{"too large only with attributes", Value[map[string]any]{Name: "__Host-prefs", Codec: s, MaxAge: time.Hour}, map[string]any{"x": strings.Repeat("a", 2960)}, ErrTooLarge},
		{"no codec", Value[map[string]any]{Name: "__Host-prefs", MaxAge: time.Hour}, nil, ErrInvalid},
		{"no max age", Value[map[string]any]{Name: "__Host-prefs", Codec: s}, nil, ErrInvalid},
		{"bad attributes", Value[map[string]any]{Name: "__Host-prefs", Codec: s, MaxAge: time.Hour, Attributes: Attributes{Path: "/app"}}, nil, ErrInvalid},
		{"bad name", Value[map[string]any]{Name: "pre fs", Codec: s, MaxAge: time.Hour}, nil, ErrInvalid},
		{"unencodable value", Value[map[string]any]{Name: "__Host-prefs", Codec: s, MaxAge: time.Hour}, map[string]any{"f": func() {}}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			err := tt.value.Set(w, tt.v)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if h := w.Header().Values("Set-Cookie"); len(h) != 0 {
				t.Fatalf("Set-Cookie %q added despite the error", h)
			}
		})
	}
	var jsonErr *json.UnsupportedTypeError
	err := (&Value[func()]{Name: "n", Codec: s, MaxAge: time.Hour}).Set(httptest.NewRecorder(), func() {})
	if !errors.As(err, &jsonErr) {
		t.Fatalf("the JSON error is not wrapped: %v", err)
	}
}

func TestValueDeleteRefusesBadAttributes(t *testing.T) {
	v := &Value[prefs]{Name: "__Host-prefs", Attributes: Attributes{Domain: "example.com"}}
	w := httptest.NewRecorder()
	if err := v.Delete(w); !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v, want ErrInvalid", err)
	}
	if h := w.Header().Values("Set-Cookie"); len(h) != 0 {
		t.Fatalf("Set-Cookie %q added despite the error", h)
	}
}

func TestValueWithoutCodecIsRefused(t *testing.T) {
	v := &Value[prefs]{Name: "__Host-prefs", MaxAge: time.Hour}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", "__Host-prefs=x")
	if _, _, err := v.Get(r); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Get without a Codec: error %v, want ErrInvalid", err)
	}
}
