package report

// pageHTML is the report page. Everything is inline: the page must open
// from a file, offline, years later.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1500px;padding:0 16px;color:#222}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:32px 0 4px;border-top:1px solid #ddd;padding-top:16px}
code,pre{font:12px/1.4 ui-monospace,Menlo,monospace;background:#f4f4f4;padding:2px 4px}
table{border-collapse:collapse;margin:12px 0;font-size:12px} th,td{border:1px solid #ddd;padding:3px 5px;text-align:left}
#summary td[data-key=name]{white-space:nowrap} .scroll{overflow-x:auto}
th{background:#f2f2f2} td.num{text-align:right;font-variant-numeric:tabular-nums}
td.verdict.as-expected{background:#e6f4ea} td.verdict.unexpected{background:#fff4d6} td.verdict.failed{background:#fde2e1}
.meta{color:#666;font-size:12px} .charts{display:flex;flex-wrap:wrap;gap:8px}
svg.chart{background:#fff;border:1px solid #e4e4e4}
svg .grid{stroke:#eee} svg text{font-size:11px;fill:#444} svg .ctitle{font-size:13px;font-weight:600;fill:#222}
svg .ytick{text-anchor:end} svg .xtick{text-anchor:middle} svg .ylabel{text-anchor:middle}
svg .marker line{stroke:#999;stroke-dasharray:4 3} svg .marker.scale line{stroke:#C00000;stroke-width:1.5}
svg .marker text{font-size:10px;fill:#555} svg .marker.scale text{fill:#C00000}
#answer .multiples{display:flex;flex-wrap:wrap;gap:6px} svg.small,svg.scatter{background:#fff;border:1px solid #e4e4e4}
svg .stitle{font-size:11px;font-weight:600;fill:#222} svg .snote{font-size:10px;fill:#555} svg .axis{stroke:#bbb}
svg .smarker{stroke:#C00000;stroke-width:1.2;stroke-dasharray:3 2} svg .point text{font-size:10px} svg .xlabel{text-anchor:middle}
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="meta">generated {{utc .Generated}}{{if .Command}} by <code>{{.Command}}</code>{{end}}</p>
{{range .Notes}}<p>{{.}}</p>{{end}}
{{if .ShowAnswer}}<section id="answer">
<h2 style="border:0;margin-top:8px">Which behaviours spread load onto the new pod, and at what cost</h2>
{{.SmallMultiples}}
{{.FairnessCharts}}
</section>{{end}}
<div class="scroll"><table id="summary">
<thead><tr>{{range .VisibleColumns}}<th data-key="{{.Key}}">{{.Title}}</th>{{end}}</tr></thead>
<tbody>
{{range .Runs}}<tr data-name="{{.Summary.Name}}">{{range $.RowCells .Summary}}<td data-key="{{.Key}}"{{if .Value}} data-value="{{.Value}}"{{end}}{{if .Class}} class="{{.Class}}"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table></div>
{{range $i, $r := .Runs}}
<section class="run" id="run-{{$r.Summary.Name}}">
<h2>{{$r.Summary.Name}}</h2>
{{if $r.Summary.Description}}<p>{{$r.Summary.Description}}</p>{{end}}
<p class="meta">{{if $r.Summary.Script}}script <code>{{$r.Summary.Script}}</code> · {{end}}{{if $r.Summary.Proxy}}proxy {{$r.Summary.Proxy}}{{if $r.Summary.ProxyReason}} ({{$r.Summary.ProxyReason}}){{end}} · {{end}}{{$r.Summary.Requests}} requests in {{printf "%.1f" $r.Summary.DurationS}} s{{if $r.Summary.Expected}} · expected <b>{{$r.Summary.Expected}}</b>: <b>{{$r.Summary.Verdict}}</b>{{if $r.Summary.VerdictDetail}} ({{$r.Summary.VerdictDetail}}){{end}}{{end}}{{if $r.Summary.Error}} · error: {{$r.Summary.Error}}{{end}}</p>
<table class="pods"><thead><tr><th>pod</th><th>requests</th><th>share</th></tr></thead><tbody>
{{range $r.PodRows}}<tr><td>{{.Pod}}</td><td class="num">{{.Requests}}</td><td class="num">{{pct .Share}}</td></tr>{{end}}
</tbody></table>
<div class="charts">{{range $r.Charts $i}}{{.SVG}}{{end}}</div>
</section>
{{end}}
</body>
</html>
`
