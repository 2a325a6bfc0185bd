// Peer user service for the PostgreSQL benchmark (bench/postgres.sh): the
// users service as a Go developer would write it with net/http and pgx v4.
// It answers GET /users/{id} and POST /users with the statuses, validation
// rules, JSON bodies and problem details (RFC 9457) of Mitos' users module,
// on a table of the same shape as the users module's PostgreSQL migration.
// pgx prepares each statement once per connection and caches it (its
// default statement cache). Logs nothing per request.
//
// Usage: go-pgx -addr 127.0.0.1:8082 -db postgresql://... -pool 8
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/pgxpool"
)

// The users module's PostgreSQL schema (modules/users/src/store.cpp).
const schema = `
CREATE TABLE IF NOT EXISTS users (
  id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       TEXT NOT NULL,
  email      TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_nocase ON users (lower(email COLLATE "C"));
`

const (
	selectUser = `SELECT id, name, email, created_at, updated_at FROM users WHERE id = $1`
	insertUser = `INSERT INTO users (name, email, created_at, updated_at) VALUES ($1, $2, $3, $4) RETURNING id`
)

// User is the contract's User, fields in the order Mitos writes them.
type User struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// problemBody is an RFC 9457 problem, keys in the order Mitos writes them.
type problemBody struct {
	Detail string       `json:"detail"`
	Errors []fieldError `json:"errors,omitempty"`
	Status int          `json:"status"`
	Title  string       `json:"title"`
	Type   string       `json:"type"`
}

type server struct {
	pool *pgxpool.Pool
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func problem(w http.ResponseWriter, status int, typ, title, detail string, errs []fieldError) {
	writeJSON(w, status, "application/problem+json",
		problemBody{Detail: detail, Errors: errs, Status: status, Title: title, Type: typ})
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	problem(w, http.StatusMethodNotAllowed, "about:blank", "Method Not Allowed",
		r.Method+" is not supported here; use "+allow+".", nil)
}

// --- Validation: the rules of Mitos' users module (modules/users/src/rules.h)

func trimASCII(s string) string { return strings.Trim(s, " \t\n\r\f\v") }

func checkName(trimmed string) string {
	n := utf8.RuneCountInString(trimmed)
	if n < 1 || n > 100 {
		return "must be 1 to 100 characters after trimming"
	}
	for i := 0; i < len(trimmed); i++ {
		if c := trimmed[i]; c < 0x20 || c == 0x7f {
			return "must not contain control characters"
		}
	}
	return ""
}

func isLocalChar(c byte) bool {
	if c >= 0x80 {
		return true
	}
	if c <= 0x20 || c == 0x7f {
		return false
	}
	return !strings.ContainsRune(`(),:;<>@[\]"`, rune(c))
}

func isLabelChar(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '-' || c >= 0x80
}

func checkEmail(email string) string {
	if email == "" {
		return "must not be empty"
	}
	if utf8.RuneCountInString(email) > 254 {
		return "must be at most 254 characters"
	}
	if strings.Count(email, "@") != 1 {
		return "must contain exactly one '@'"
	}
	at := strings.IndexByte(email, '@')
	local, domain := email[:at], email[at+1:]
	if local == "" || utf8.RuneCountInString(local) > 64 {
		return "must have 1 to 64 characters before '@'"
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return "must not have leading, trailing or double dots before '@'"
	}
	for i := 0; i < len(local); i++ {
		if !isLocalChar(local[i]) {
			return "has a character not allowed before '@'"
		}
	}
	if !strings.Contains(domain, ".") {
		return "must have a domain with a dot after '@'"
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" || len(label) > 63 {
			return "has an empty or over-long domain label"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "has a domain label starting or ending with '-'"
		}
		for i := 0; i < len(label); i++ {
			if !isLabelChar(label[i]) {
				return "has a character not allowed in the domain"
			}
		}
	}
	return ""
}

// validateNewUser: structural errors first (unknown, missing, mistyped
// fields), then the rule errors of the fields that could be read.
func validateNewUser(body map[string]json.RawMessage) (name, email string, errs []fieldError) {
	keys := make([]string, 0, len(body))
	for k := range body {
		if k != "name" && k != "email" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		errs = append(errs, fieldError{k, "unknown field"})
	}
	read := map[string]*string{"name": &name, "email": &email}
	ok := map[string]bool{}
	for _, f := range []string{"name", "email"} {
		raw, present := body[f]
		if !present {
			errs = append(errs, fieldError{f, "is required"})
		} else if err := json.Unmarshal(raw, read[f]); err != nil || len(raw) == 0 || raw[0] != '"' {
			errs = append(errs, fieldError{f, "must be a string"})
		} else {
			ok[f] = true
		}
	}
	if ok["name"] {
		name = trimASCII(name)
		if e := checkName(name); e != "" {
			errs = append(errs, fieldError{"name", e})
		}
	}
	if ok["email"] {
		if e := checkEmail(email); e != "" {
			errs = append(errs, fieldError{"email", e})
		}
	}
	return name, email, errs
}

// parsePositiveID is Mitos' ParsePositiveId: 1..19 digits, no leading zero,
// fits in int64.
func parsePositiveID(raw string) (int64, bool) {
	if raw == "" || len(raw) > 19 || raw[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] < '0' || raw[i] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	return id, err == nil
}

// --- Handlers

func (s *server) users(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, "POST")
		return
	}
	media := strings.ToLower(strings.TrimSpace(strings.SplitN(r.Header.Get("Content-Type"), ";", 2)[0]))
	if media != "application/json" {
		w.Header().Set("Accept-Post", "application/json")
		problem(w, http.StatusUnsupportedMediaType, "about:blank", "Unsupported Media Type",
			"The request body must be application/json.", nil)
		return
	}
	var body map[string]json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&body); err != nil || body == nil || dec.More() {
		problem(w, http.StatusBadRequest, "urn:mitos:problem:malformed-json", "Malformed JSON",
			"The request body must be a JSON object.", nil)
		return
	}
	name, email, errs := validateNewUser(body)
	if len(errs) > 0 {
		problem(w, http.StatusUnprocessableEntity, "urn:mitos:problem:validation-failed",
			"Validation failed", "The user has invalid fields.", errs)
		return
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	u := User{CreatedAt: now, Email: email, Name: name, UpdatedAt: now}
	err := s.pool.QueryRow(r.Context(), insertUser, name, email, now, now).Scan(&u.ID)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			problem(w, http.StatusConflict, "urn:mitos:problem:already-exists", "Already exists",
				"A user with this email already exists.",
				[]fieldError{{"email", "is already used by another user"}})
			return
		}
		s.storageError(w, err)
		return
	}
	w.Header().Set("Location", "/users/"+strconv.FormatInt(u.ID, 10))
	writeJSON(w, http.StatusCreated, "application/json", u)
}

func (s *server) user(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	raw := strings.TrimPrefix(r.URL.Path, "/users/")
	notFound := func() {
		problem(w, http.StatusNotFound, "about:blank", "Not Found", "User "+raw+" does not exist.", nil)
	}
	id, ok := parsePositiveID(raw)
	if !ok {
		notFound()
		return
	}
	var u User
	err := s.pool.QueryRow(r.Context(), selectUser, id).Scan(&u.ID, &u.Name, &u.Email, &u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		notFound()
		return
	}
	if err != nil {
		s.storageError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, "application/json", u)
}

func (s *server) storageError(w http.ResponseWriter, err error) {
	log.Printf("storage: %v", err)
	w.Header().Set("Retry-After", "1")
	problem(w, http.StatusServiceUnavailable, "about:blank", "Service Unavailable",
		"The storage is unavailable; try again later.", nil)
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, "application/json",
			map[string]interface{}{"modules": map[string]string{"users": "not_ready"}, "status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, "application/json",
		map[string]interface{}{"modules": map[string]string{"users": "ready"}, "status": "ready"})
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "listen address")
	dbURL := flag.String("db", os.Getenv("DATABASE_URL"), "PostgreSQL URL (default $DATABASE_URL)")
	poolSize := flag.Int("pool", 8, "most PostgreSQL connections")
	flag.Parse()

	cfg, err := pgxpool.ParseConfig(*dbURL)
	if err != nil {
		log.Fatalf("bad -db: %v", err)
	}
	cfg.MaxConns = int32(*poolSize)
	ctx := context.Background()
	pool, err := pgxpool.ConnectConfig(ctx, cfg)
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, schema); err != nil {
		log.Fatalf("schema: %v", err)
	}

	s := &server{pool: pool}
	mux := http.NewServeMux()
	mux.HandleFunc("/users", s.users)
	mux.HandleFunc("/users/", s.user)
	mux.HandleFunc("/readyz", s.readyz)
	mux.HandleFunc("/livez", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, "application/json", map[string]string{"status": "alive"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusNotFound, "about:blank", "Not Found", "No resource at "+r.URL.Path+".", nil)
	})

	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
