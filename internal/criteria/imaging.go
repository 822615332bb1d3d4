package criteria

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// imaging finds lumbar studies within n days before D, newest first
// (DECISIONS.md "Imaging"; reference/clinical-criteria.md 1.4): an
// ImagingStudy of one of the modalities with a lumbar body site or a code in
// codes, or a Procedure or DiagnosticReport with a code in codes. A study
// whose recorded date is imprecise counts when any day it names falls in
// the window (DECISIONS.md "Dates": it counts as within it for the outcome,
// and the card says the date is imprecise). An undated lumbar study cannot
// be placed: it is named in the answer as not counted.
func (x *assessor) imaging(codes *policy.Codes, modalities []string, n int) []Evidence {
	from := addDays(x.d, -n)
	var out []Evidence
	consider := func(e Evidence, date chart.Date, src string) {
		e.Source = src
		if date.IsZero() {
			x.skip(ReasonNoDate, "prior lumbar imaging", nameOf(e), date, src)
			return
		}
		switch {
		case date.Earliest.After(x.d):
			x.skip(ReasonAfterOrder, "prior lumbar imaging", nameOf(e), date, src)
			return
		case !date.Overlaps(from, x.d):
			x.record(NotCounted{Reason: ReasonOutsideImagingWindow, What: "prior lumbar imaging", Display: nameOf(e), DateText: date.Text,
				Source: src, Why: fmt.Sprintf("before the %d-day window for prior imaging", n)})
			return
		}
		out = append(out, dated(e, date))
	}
	for i := range x.f.Imaging {
		s := &x.f.Imaging[i]
		e, ok := x.lumbarStudy(s, codes, modalities)
		switch {
		case !ok:
			// A study of the modality that says in words it is of the
			// lumbar spine, but codes neither its body site nor its
			// procedure in a system the value sets read: named.
			if w, lumbar := x.lumbarInWords(s, modalities); lumbar && (s.Started.IsZero() || s.Started.Overlaps(from, x.d)) {
				x.record(NotCounted{Reason: ReasonTextOnly, What: "prior lumbar imaging", Display: w, DateText: dateOrEmpty(s.Started),
					Source: s.Source, Why: "its body site and procedure are not coded in a system the criteria read"})
			}
		case !s.Counts:
			if s.Started.Overlaps(from, x.d) {
				x.statusNotCounted(s.NotCountedWhy, "prior lumbar imaging", nameOf(e), s.Started, s.Source)
			}
		default:
			consider(e, s.Started, s.Source)
		}
	}
	for _, pr := range x.procs {
		if cd, ok := matchConcept(codes, pr.p.Code); ok {
			consider(evidence("", chart.Date{}, cd), pr.start, pr.p.Source)
		}
	}
	for i := range x.f.Reports {
		r := &x.f.Reports[i]
		cd, ok := matchConcept(codes, r.Code)
		switch {
		case !ok:
		case !r.Counts:
			if r.Effective.Overlaps(from, x.d) {
				x.statusNotCounted(r.NotCountedWhy, "prior lumbar imaging", nameOf(evidence("", chart.Date{}, cd)), r.Effective, r.Source)
			}
		default:
			consider(evidence("", chart.Date{}, cd), r.Effective, r.Source)
		}
	}
	// Newest first by the latest day each date allows.
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Latest.Equal(*out[j].Latest) {
			return out[i].Latest.After(*out[j].Latest)
		}
		return out[i].Source < out[j].Source
	})
	return out
}

func nameOf(e Evidence) string {
	if e.Display != "" {
		return e.Display
	}
	return e.Code.Code
}

// codingName is a matched coding's display, else its code.
func codingName(c policy.Coding) string {
	return nameOf(Evidence{Display: c.Display, Code: Code{Code: c.Code}})
}

func hasModality(cd chart.Coding, modalities []string) bool {
	if cd.Code == "" {
		return false
	}
	if cd.System != "" && cd.System != policy.SystemDICOM {
		return false
	}
	return slices.Contains(modalities, cd.Code)
}

// lumbarStudy: modality in modalities (study or series level) and a lumbar
// series body site (on a series of that modality, or any series when the
// study-level modality matches) or a procedure code in codes.
func (x *assessor) lumbarStudy(s *chart.Study, codes *policy.Codes, modalities []string) (Evidence, bool) {
	studyLevel := false
	for _, m := range s.Modalities {
		if hasModality(m, modalities) {
			studyLevel = true
			break
		}
	}
	anySeries := false
	for _, se := range s.Series {
		seriesMod := hasModality(se.Modality, modalities)
		anySeries = anySeries || seriesMod
		if (seriesMod || studyLevel) && se.BodySite.Code != "" && x.pol.Imaging.LumbarBodySites.Match(se.BodySite.System, se.BodySite.Code) {
			mod := se.Modality.Code
			if !seriesMod {
				mod = firstModality(s.Modalities, modalities)
			}
			site := se.BodySite.Display
			if site == "" {
				site = se.BodySite.Code
			}
			return Evidence{Display: mod + " " + site, Code: Code{System: se.BodySite.System, Code: se.BodySite.Code, Display: se.BodySite.Display}}, true
		}
	}
	if !studyLevel && !anySeries {
		return Evidence{}, false
	}
	for _, pc := range s.ProcedureCodes {
		if cd, ok := matchConcept(codes, pc); ok {
			return evidence("", chart.Date{}, cd), true
		}
	}
	return Evidence{}, false
}

func firstModality(cs []chart.Coding, modalities []string) string {
	for _, c := range cs {
		if hasModality(c, modalities) {
			return c.Code
		}
	}
	return ""
}

// lumbarInWords reports whether a study of one of the modalities names the
// lumbar spine in words (its description, body site or procedure text holds
// a display of the lumbar body-site value set), and returns those words.
func (x *assessor) lumbarInWords(s *chart.Study, modalities []string) (string, bool) {
	of := func(m chart.Coding) bool { return hasModality(m, modalities) }
	if !slices.ContainsFunc(s.Modalities, of) && !slices.ContainsFunc(s.Series, func(se chart.Series) bool { return of(se.Modality) }) {
		return "", false
	}
	names := x.pol.Imaging.LumbarBodySites.Set().Displays()
	for _, w := range s.Words() {
		lw := strings.ToLower(w)
		for _, n := range names {
			if strings.Contains(lw, strings.ToLower(n)) {
				return w, true
			}
		}
	}
	return "", false
}
