// Command report turns the figures bench/run.sh collects (lines of
// "key value") into one markdown table on standard output and a PNG chart.
//
//	go run ./bench/report -in results.txt -png bench/results.png
package main

import (
	"bufio"
	"flag"
	"fmt"
	"image/color"
	"os"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// figures maps a key such as "tput.get.16.50.redverb" to its value.
type figures map[string]float64

func main() {
	in := flag.String("in", "results.txt", "figures from bench/run.sh")
	png := flag.String("png", "bench/results.png", "chart to write")
	title := flag.String("title", "", "line printed above the table (date, machine, command)")
	flag.Parse()
	f, err := read(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if *title != "" {
		fmt.Println(*title)
		fmt.Println()
	}
	if f["tput.get.1.50.redis"] > 0 {
		table(f)
		if err := chart(f, *png); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
	}
	if f["zipf.1.redis.ops"] > 0 {
		cacheTable(f)
	}
}

// cacheTable is the Zipf load's rows: direct Redis, redverb, and redverb
// with --cache.
func cacheTable(f figures) {
	fmt.Println()
	fmt.Println("| Zipf 0.99, 100,000 keys of 1 KiB, 50 clients, 95% GET | direct Redis | redverb | redverb --cache | cache vs Redis | cache vs redverb |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for _, p := range []string{"1", "16"} {
		v := func(target, name string) float64 { return f["zipf."+p+"."+target+"."+name] }
		fmt.Printf("| P%s throughput (ops/s) | %s | %s | %s | %s | %s |\n", p,
			num(v("redis", "ops")), num(v("redverb", "ops")), num(v("cache", "ops")), ratio(v("cache", "ops"), v("redis", "ops")), ratio(v("cache", "ops"), v("redverb", "ops")))
		for _, q := range []string{"p50", "p99"} {
			fmt.Printf("| P%s latency %s (µs) | %s | %s | %s | %s | %s |\n", p, q,
				num(v("redis", q)), num(v("redverb", q)), num(v("cache", q)), ratio(v("cache", q), v("redis", q)), ratio(v("cache", q), v("redverb", q)))
		}
		fmt.Printf("| P%s commands reaching Redis per request | %.3f | %.3f | %.3f | %.0f%% fewer | |\n", p,
			v("redis", "backend"), v("redverb", "backend"), v("cache", "backend"), 100*(1-v("cache", "backend")/v("redis", "backend")))
	}
	fmt.Printf("| cache memory held / cache-max-memory (bytes) | | | %s / %s | | |\n", num(f["cache.bytes"]), num(f["cache.max"]))
	fmt.Printf("| cache entries, hit ratio over the whole run | | | %s, %.3f | | |\n", num(f["cache.entries"]), f["cache.hitratio"])
	fmt.Printf("| a direct SET until a client of the cache reads it, p50 / p99 (µs) | | | %s / %s | | |\n", num(f["cache.lag.p50"]), num(f["cache.lag.p99"]))
}

func read(path string) (figures, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	f := figures{}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		key, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a number", key, value)
		}
		f[key] = v
	}
	return f, sc.Err()
}

// workloads are the throughput rows, in order: command.pipeline.clients.
var workloads = func() (list []string) {
	for _, c := range []string{"50", "500"} {
		for _, p := range []string{"1", "16"} {
			for _, t := range []string{"set", "get"} {
				list = append(list, t+"."+p+"."+c)
			}
		}
	}
	return append(list, "get.16.1", "get.128.1")
}()

// casRows are the CAS verb's rows: pipeline.clients.
var casRows = []string{"1.50", "16.1", "16.50", "128.1"}

func label(w string) string {
	parts := strings.Split(w, ".")
	return fmt.Sprintf("%s P%s %sc", strings.ToUpper(parts[0]), parts[1], parts[2])
}

func num(v float64) string {
	if v == 0 {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func table(f figures) {
	fmt.Println("| figure | direct Redis | twemproxy | redverb | redverb vs Redis | redverb vs twemproxy | CPU per request, ns: Redis / twemproxy / redverb |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	for _, w := range workloads {
		d, t, r := f["tput."+w+".redis"], f["tput."+w+".twemproxy"], f["tput."+w+".redverb"]
		fmt.Printf("| %s (ops/s) | %s | %s | %s | %s | %s | %s / %s / %s |\n", label(w), num(d), num(t), num(r), ratio(r, d), ratio(r, t),
			num(f["cpu."+w+".redis"]), num(f["cpu."+w+".twemproxy"]), num(f["cpu."+w+".redverb"]))
	}
	for _, c := range casRows {
		p, clients, _ := strings.Cut(c, ".")
		d, r := f["cas."+c+".direct"], f["cas."+c+".redverb"]
		fmt.Printf("| CAS verb vs EVALSHA of its script, P%s %sc (ops/s) | %s | – | %s | %s | – | %s / – / %s |\n",
			p, clients, num(d), num(r), ratio(r, d), num(f["cpu.cas."+c+".direct"]), num(f["cpu.cas."+c+".redverb"]))
	}
	fmt.Printf("| contended CAS, 10 keys: verb vs WATCH/MULTI loop (ops/s) | %s | – | %s | %s | – | |\n",
		num(f["contended.watch"]), num(f["contended.redverb"]), ratio(f["contended.redverb"], f["contended.watch"]))
	fmt.Printf("| memory per idle client that sent a GET, 10,000 clients (bytes) | – | %s | %s | – | %s | |\n",
		num(f["mem.twemproxy"]), num(f["mem.redverb"]), ratio(f["mem.redverb"], f["mem.twemproxy"]))
	fmt.Printf("| RSS with the idle clients (KiB; before them: twemproxy %s, redverb %s) | – | %s | %s | – | – | |\n",
		num(f["mem.twemproxy.before"]), num(f["mem.redverb.before"]), num(f["mem.twemproxy.peak"]), num(f["mem.redverb.peak"]))
	fmt.Printf("| RSS after the idle clients left (KiB) | – | %s | %s | – | – | |\n",
		num(f["mem.twemproxy.after"]), num(f["mem.redverb.after"]))
	for _, p := range []string{"p50", "p99", "p999"} {
		d, t, r := f["lat.redis."+p], f["lat.twemproxy."+p], f["lat.redverb."+p]
		fmt.Printf("| GET latency %s at %s req/s (µs; in brackets: added to direct Redis's) | %s | %s (%+.0f) | %s (%+.0f) | %+.0f µs | %s | |\n",
			strings.Replace(p, "p999", "p99.9", 1), num(f["lat.rate"]), num(d), num(t), t-d, num(r), r-d, r-d, addedVs(r-d, t-d))
	}
}

// addedVs compares the latency each proxy adds.
func addedVs(rv, twem float64) string {
	if twem <= 0 {
		return fmt.Sprintf("%+.0f µs vs twemproxy", rv-twem)
	}
	return fmt.Sprintf("adds %.2fx what twemproxy adds", rv/twem)
}

var (
	colRedis = color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}
	colTwem  = color.RGBA{R: 0xe0, G: 0x8a, B: 0x1e, A: 0xff}
	colRV    = color.RGBA{R: 0x1f, G: 0x6f, B: 0xc5, A: 0xff}
)

// chart draws three panels side by side: throughput relative to direct
// Redis, latency percentiles, and memory per idle client.
func chart(f figures, path string) error {
	w := vg.Length(len(workloads)) * 0.22 * vg.Inch
	plots := []*plot.Plot{throughput(f), latency(f), memory(f)}
	widths := []vg.Length{w + 2*vg.Inch, 4.5 * vg.Inch, 3 * vg.Inch}
	total := vg.Length(0)
	for _, x := range widths {
		total += x
	}
	img := vgimg.New(total, 4.5*vg.Inch)
	dc := draw.New(img)
	x := vg.Length(0)
	for i, p := range plots {
		c := draw.Canvas{Canvas: dc, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x, Y: 0}, Max: vg.Point{X: x + widths[i], Y: 4.5 * vg.Inch}}}
		p.Draw(c)
		x += widths[i]
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(out)
	return err
}

func bars(p *plot.Plot, values plotter.Values, c color.Color, offset vg.Length, name string) {
	b, err := plotter.NewBarChart(values, 0.12*vg.Inch)
	if err != nil {
		panic(err) // values are finite numbers we just built
	}
	b.Color, b.LineStyle.Width, b.Offset = c, 0, offset
	p.Add(b)
	if name != "" {
		p.Legend.Add(name, b)
	}
}

func throughput(f figures) *plot.Plot {
	p := plot.New()
	p.Title.Text = "Throughput relative to direct Redis"
	p.Y.Label.Text = "ratio (1 = direct Redis)"
	var twem, rv plotter.Values
	var names []string
	for _, w := range workloads {
		d := f["tput."+w+".redis"]
		if d == 0 {
			d = 1
		}
		twem = append(twem, f["tput."+w+".twemproxy"]/d)
		rv = append(rv, f["tput."+w+".redverb"]/d)
		names = append(names, label(w))
	}
	bars(p, twem, colTwem, -0.06*vg.Inch, "twemproxy")
	bars(p, rv, colRV, 0.06*vg.Inch, "redverb")
	p.NominalX(names...)
	p.Y.Max = 1.25 * max(maxOf(twem), maxOf(rv))
	p.X.Tick.Label.Rotation = 0.6
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	p.Y.Min = 0
	p.Legend.Top = true
	return p
}

func latency(f figures) *plot.Plot {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("GET latency at %s req/s", num(f["lat.rate"]))
	p.Y.Label.Text = "µs"
	pcts := []string{"p50", "p99", "p999"}
	for i, target := range []struct {
		key, name string
		c         color.Color
	}{{"redis", "direct Redis", colRedis}, {"twemproxy", "twemproxy", colTwem}, {"redverb", "redverb", colRV}} {
		var v plotter.Values
		for _, pc := range pcts {
			v = append(v, f["lat."+target.key+"."+pc])
		}
		bars(p, v, target.c, vg.Length(i-1)*0.13*vg.Inch, target.name)
	}
	p.NominalX("p50", "p99", "p99.9")
	p.Y.Min = 0
	p.Y.Max = 1.3 * max(f["lat.redis.p999"], f["lat.twemproxy.p999"], f["lat.redverb.p999"])
	p.Legend.Top, p.Legend.Left = true, true
	return p
}

func memory(f figures) *plot.Plot {
	p := plot.New()
	p.Title.Text = "Memory per idle client"
	p.Y.Label.Text = "bytes (10,000 clients)"
	bars(p, plotter.Values{f["mem.twemproxy"], 0}, colTwem, 0, "")
	bars(p, plotter.Values{0, f["mem.redverb"]}, colRV, 0, "")
	p.NominalX("twemproxy", "redverb")
	p.Y.Min = 0
	p.Y.Max = 1.15 * max(f["mem.twemproxy"], f["mem.redverb"])
	return p
}

func maxOf(v plotter.Values) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
