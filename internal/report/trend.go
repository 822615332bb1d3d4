package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// trend is a daily column chart, geometry computed here: one column per
// day, stacked segments, a y axis with ticks and dates along the x axis.
type trend struct {
	ID, Title, Axis, Note string
	Width, Height         int
	PlotX, PlotY, PlotW   int
	PlotH, AxisY          int
	AxisLabelX            int
	Cols                  []column
	Ticks                 []yTick
	Dates                 []xLabel
	Legend                []legendItem
}

// column is one day: data-date and data-value carry the figure it shows.
type column struct {
	Date, Value, Text string
	Segs              []segment
	// Label is the figure written above the column (when columns are wide
	// enough), at LabelX, LabelY.
	Label          string
	LabelX, LabelY int
}

type segment struct {
	X, Y, W, H int
	Colour     string
}

type yTick struct {
	Y     int
	Label string
}

type xLabel struct {
	X     int
	Label string
}

type legendItem struct {
	X      int
	Colour string
	Label  string
}

// Trend layout in SVG user units.
const (
	trendW      = 850
	trendLeft   = 56 // y tick labels
	trendRight  = 12
	trendTop    = 44 // legend, and room for the figure above a full column
	trendPlotH  = 180
	trendBottom = 52        // date labels and axis title
	colourMuted = "#8a5a00" // amber, 5.1:1: refused calls
)

// trends draws the calls per day (answered and refused, stacked) and the
// share of each day's orders that met the criteria.
func trends(days []Day) []trend {
	if len(days) == 0 {
		return []trend{{ID: "calls-per-day", Title: "Calls per day"}, {ID: "met-per-day", Title: "Orders meeting the criteria, per day"}}
	}
	maxCalls := 0
	for _, d := range days {
		maxCalls = max(maxCalls, d.Calls)
	}
	callsTop := niceMax(float64(maxCalls))
	calls := trendFrame("calls-per-day", "Calls per day", "Calls (UTC days)",
		"Answered: the service returned its advice (HTTP 200). Refused: any other status (see Calls by outcome).",
		days, callsTop, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) })
	calls.Legend = []legendItem{{X: trendLeft, Colour: colourCount, Label: "Answered"}, {X: trendLeft + 110, Colour: colourMuted, Label: "Refused"}}
	met := trendFrame("met-per-day", "Orders meeting the criteria, per day", "% of the day's orders assessed",
		"Each day's share divides by the lumbar MRI orders assessed that day; days without orders have no column.",
		days, 100, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "%" })
	met.Legend = []legendItem{{X: trendLeft, Colour: colourAccepted, Label: "Meeting the criteria"}}
	for i, d := range days {
		x, w := calls.colX(i, len(days))
		date := d.Date.UTC().Format(time.DateOnly)
		answered := d.Calls - d.Refused
		calls.Cols = append(calls.Cols, column{Date: date, Value: strconv.Itoa(d.Calls),
			Text: fmt.Sprintf("%d calls: %d answered, %d refused", d.Calls, answered, d.Refused),
			Segs: stack(x, w, calls.AxisY, calls.PlotH, callsTop, []float64{float64(answered), float64(d.Refused)}, []string{colourCount, colourMuted})})
		if d.Orders == 0 {
			met.Cols = append(met.Cols, column{Date: date, Value: "", Text: "no orders assessed"})
			continue
		}
		rate := d.MetRate()
		met.Cols = append(met.Cols, column{Date: date, Value: strconv.FormatFloat(rate, 'f', 1, 64),
			Text: fmt.Sprintf("%.1f%% (%d of %d orders)", rate, d.Met, d.Orders),
			Segs: stack(x, w, met.AxisY, met.PlotH, 100, []float64{rate}, []string{colourAccepted})})
	}
	// Figures above the columns while there is room for them.
	if len(days) <= 31 {
		for _, t := range []*trend{&calls, &met} {
			for i := range t.Cols {
				c := &t.Cols[i]
				x, w := t.colX(i, len(days))
				c.LabelX, c.LabelY = x+w/2, t.AxisY-4
				for _, s := range c.Segs {
					c.LabelY = min(c.LabelY, s.Y-4)
				}
				switch {
				case c.Value == "":
					c.Label = "–"
				case t == &met:
					c.Label = strings.TrimSuffix(c.Value, ".0") + "%"
				default:
					c.Label = c.Value
				}
			}
		}
	}
	return []trend{calls, met}
}

// trendFrame lays out the axes of a daily chart over days, y from 0 to top.
func trendFrame(id, title, axis, note string, days []Day, top float64, label func(float64) string) trend {
	t := trend{ID: id, Title: title, Axis: axis, Note: note, Width: trendW,
		PlotX: trendLeft, PlotY: trendTop, PlotW: trendW - trendLeft - trendRight, PlotH: trendPlotH}
	t.AxisY = t.PlotY + t.PlotH
	t.Height = t.AxisY + trendBottom
	t.AxisLabelX = t.PlotX + t.PlotW/2
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		t.Ticks = append(t.Ticks, yTick{Y: t.AxisY - int(math.Round(float64(t.PlotH)*float64(i)/4)), Label: label(v)})
	}
	// At most about ten date labels, evenly spaced, the last day always.
	step := max(1, (len(days)+9)/10)
	for i := 0; i < len(days); i++ {
		if i%step != 0 && i != len(days)-1 {
			continue
		}
		if i != len(days)-1 && len(days)-1-i < step {
			continue // too close to the last label
		}
		x, w := t.colX(i, len(days))
		t.Dates = append(t.Dates, xLabel{X: x + w/2, Label: days[i].Date.UTC().Format("Jan 2")})
	}
	return t
}

// colX is the left edge and width of column i of n.
func (t trend) colX(i, n int) (int, int) {
	slot := float64(t.PlotW) / float64(n)
	gap := math.Min(slot*0.2, 8)
	x := float64(t.PlotX) + slot*float64(i) + gap/2
	w := int(math.Max(1, math.Round(slot-gap)))
	return int(math.Round(x)), w
}

// stack places stacked segments from the x axis up, scaled to top.
func stack(x, w, axisY, plotH int, top float64, values []float64, colours []string) []segment {
	var segs []segment
	y := float64(axisY)
	for i, v := range values {
		if v <= 0 {
			continue
		}
		h := math.Max(1, v/top*float64(plotH))
		y -= h
		segs = append(segs, segment{X: x, Y: int(math.Round(y)), W: w, H: int(math.Round(h)), Colour: colours[i]})
	}
	return segs
}
