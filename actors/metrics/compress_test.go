package metrics

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCompress(t *testing.T) {
	t.Parallel()
	m := New("dev", fakeTree)
	plain := scrape(t, m.Handler(), false)

	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept-Encoding", "deflate, gzip;q=0.9")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("status %d, Content-Encoding %q; want 200 gzip", rec.Code, rec.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	// the same families; process_* and go_* values move between scrapes
	if len(got) < len(plain)/2 || !bytes.Contains(got, []byte("\notpsv_node_up{path=\"site/w\",type=\"process\"} 1\n")) {
		t.Errorf("gunzipped scrape (%d bytes) is not the plain one (%d bytes):\n%s", len(got), len(plain), got)
	}

	// an error is plain text, whatever the client accepts
	h := compress(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Content-Encoding") != "" || rec.Body.String() != "busy\n" {
		t.Errorf("error: %d %q %q; want 503, plain busy", rec.Code, rec.Header().Get("Content-Encoding"), rec.Body)
	}
}
