package influxdb

import (
	"strings"
	"testing"
	"time"

	"spread.dev/spread/ext"
)

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig("http://bob:pw@db.example:8086/proxy/influx/k6db", map[string]string{
		"K6_INFLUXDB_PUSH_INTERVAL": "250ms", "K6_INFLUXDB_CONCURRENT_WRITES": "2", "K6_INFLUXDB_TAGS_AS_FIELDS": "vu:int,url,ok:bool",
		"K6_INFLUXDB_PRECISION": "ms", "K6_INFLUXDB_RETENTION": "autogen", "K6_INFLUXDB_CONSISTENCY": "one", "K6_INFLUXDB_INSECURE": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Server != "http://db.example:8086/proxy/influx" || c.DB != "k6db" || c.Username != "bob" || c.Password != "pw" ||
		c.PushInterval != 250*time.Millisecond || c.Concurrency != 2 || len(c.TagsAsFields) != 3 || c.TagsAsFields[1].kind != "string" ||
		c.Precision != "ms" || c.Retention != "autogen" || c.Consistency != "one" || !c.Insecure {
		t.Errorf("config %+v", c)
	}
	d, err := ParseConfig("", nil)
	if err != nil || d.Server != "http://localhost:8086" || d.DB != "k6" || d.PushInterval != time.Second || d.Concurrency != 4 || len(d.TagsAsFields) != 3 {
		t.Errorf("defaults %+v %v", d, err)
	}
	for arg, env := range map[string]map[string]string{
		"ftp://x/db":         nil,
		"http://host:8086/":  nil,
		"http://h:8086/db#1": {"K6_INFLUXDB_PUSH_INTERVAL": "soon"},
		"http://h:8086/db":   {"K6_INFLUXDB_TAGS_AS_FIELDS": "vu:number"},
		"http://h:8086/db2":  {"K6_INFLUXDB_CONCURRENT_WRITES": "0"},
		"http://h:8086/db3":  {"K6_INFLUXDB_PRECISION": "h"},
	} {
		if _, err := ParseConfig(arg, env); err == nil {
			t.Errorf("%s %v: no error", arg, env)
		}
	}
}

func TestLineProtocol(t *testing.T) {
	reg := ext.NewRegistry()
	c, _ := ParseConfig("http://h:8086/db", nil)
	o := &Output{cfg: c}
	at := time.Unix(1700000000, 123456789)
	line := string(o.appendLine(nil, ext.Sample{Metric: reg.Get("http_req_duration"), Time: at, Value: 12.5,
		Tags:     ext.NewTagSet(map[string]string{"pod": "pod a", "url": `http://x/?q="1"`, "vu": "3", "status": "200", "name": "a,b=c", "empty": ""}),
		Metadata: map[string]string{"trace_id": "abc"}}))
	want := `http_req_duration,name=a\,b\=c,pod=pod\ a,status=200 value=12.5,url="http://x/?q=\"1\"",vu=3i,trace_id="abc" 1700000000123456789` + "\n"
	if line != want {
		t.Errorf("line\n got %s\nwant %s", line, want)
	}
	o.cfg.Precision = "s"
	if l := string(o.appendLine(nil, ext.Sample{Metric: reg.Get("vus"), Time: at, Value: 4, Tags: ext.NewTagSet(map[string]string{"vu": "x"})})); l != "vus value=4,vu=\"x\" 1700000000\n" {
		t.Errorf("line %q", l)
	}
	if !strings.HasPrefix(o.Description(), "influxdb (http://h:8086") {
		t.Errorf("description %q", o.Description())
	}
}
