package dashboard

import (
	_ "embed"
	"html/template"
	"io"
)

var (
	//go:embed assets/page.html
	pageHTML string
	//go:embed assets/style.css
	styleCSS string
	//go:embed assets/app.js
	appJS string
)

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// renderPage writes the page with its style and script inline; data is the
// run as JSON ("null" for a live page, which fetches it from /events).
func renderPage(w io.Writer, title string, data []byte) error {
	return pageTmpl.Execute(w, map[string]any{
		"Title": title,
		"Style": template.CSS(styleCSS),
		"App":   template.JS(appJS),
		// encoding/json escapes <, > and &, so the data cannot end its
		// <script> element early.
		"Data": template.JS(data),
	})
}
