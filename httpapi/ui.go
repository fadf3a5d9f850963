package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// uiFiles are the dashboard (/ui/) and the API reference page (/docs),
// built from the top-level ui/ folder by `make ui` and committed, so that
// building lokihooks needs no Node. (A package-level variable because the
// embed directive needs one; it is never written.)
//
//go:embed ui/dist
var uiFiles embed.FS

// uiCSP allows nothing but this server: the pages load no script, style,
// font or image from anywhere else, and talk to no other host.
const uiCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// uiAsset is one embedded file, ready to serve.
type uiAsset struct {
	name  string
	body  []byte
	etag  string
	ctype string
}

// uiHandler serves the embedded dashboard. Files are revalidated on every
// use (Cache-Control: no-cache) and answered 304 by their content hash, so
// a new binary's assets are picked up at once.
type uiHandler struct {
	files map[string]uiAsset // by path below ui/dist
}

func newUIHandler(files fs.FS) (*uiHandler, error) {
	h := &uiHandler{files: map[string]uiAsset{}}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		h.files[p] = uiAsset{name: p, body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: ctype}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded ui: %w", err)
	}
	for _, p := range []string{"index.html", "docs.html"} {
		if _, ok := h.files[p]; !ok {
			return nil, fmt.Errorf("embedded ui has no %s: run make ui", p)
		}
	}
	return h, nil
}

// registerUI serves the dashboard at /ui/ and the API reference at /docs.
// Neither needs the API key: they hold no data, and the dashboard asks for
// a key before it calls the API.
func (a *API) registerUI() {
	dist, err := fs.Sub(uiFiles, "ui/dist")
	if err == nil {
		var h *uiHandler
		if h, err = newUIHandler(dist); err == nil {
			a.mux.Handle("GET /ui/", h)
			a.mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
			a.mux.HandleFunc("GET /docs", h.docs)
			return
		}
	}
	panic(err) // the embedded files are part of the binary: only a broken build gets here
}

func (h *uiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/ui/")
	if p == "" {
		p = "index.html"
	}
	f, ok := h.files[p]
	if !ok {
		// The API's own 404 would call this a known route with the wrong
		// method (GET /ui/ matches every path below it).
		body, _ := json.Marshal(&huma.ErrorModel{Title: "Not Found", Status: http.StatusNotFound, Detail: "no such file: " + r.URL.Path})
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write(body)
		return
	}
	h.serve(w, r, f)
}

func (h *uiHandler) docs(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, h.files["docs.html"])
}

func (h *uiHandler) serve(w http.ResponseWriter, r *http.Request, f uiAsset) {
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", f.etag)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Security-Policy", uiCSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	// ServeContent answers If-None-Match with 304 and honours ranges.
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}
