package metrics

import (
	"compress/gzip"
	"net/http"
	"strings"
	"sync"
)

// promhttp compresses at gzip's default level, which took a third of a
// 1000-node scrape (~600 kB of text); BestSpeed takes a fraction of that
// for a body still ~7% of the text (see BenchmarkScrape1000). So promhttp
// is asked not to compress, and compress does.
var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// compress gzips h's successful answers for a client that accepts gzip.
// Errors go out as they are, in plain text.
func compress(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept-Encoding")
		if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.ServeHTTP(w, r)
			return
		}
		g := &gzipWriter{ResponseWriter: w}
		defer g.close()
		h.ServeHTTP(g, r)
	})
}

func acceptsGzip(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		part = strings.TrimSpace(part)
		if part == "gzip" || strings.HasPrefix(part, "gzip;") {
			return true
		}
	}
	return false
}

// gzipWriter compresses what is written after a 200 header.
type gzipWriter struct {
	http.ResponseWriter
	gz     *gzip.Writer
	header bool // WriteHeader was called
}

func (g *gzipWriter) WriteHeader(code int) {
	if g.header {
		return
	}
	g.header = true
	if h := g.Header(); code == http.StatusOK && h.Get("Content-Encoding") == "" {
		h.Set("Content-Encoding", "gzip")
		h.Del("Content-Length")
		g.gz = gzipPool.Get().(*gzip.Writer)
		g.gz.Reset(g.ResponseWriter)
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if !g.header {
		g.WriteHeader(http.StatusOK)
	}
	if g.gz != nil {
		return g.gz.Write(b)
	}
	return g.ResponseWriter.Write(b)
}

func (g *gzipWriter) close() {
	if g.gz == nil {
		return
	}
	_ = g.gz.Close()
	g.gz.Reset(nil)
	gzipPool.Put(g.gz)
}
