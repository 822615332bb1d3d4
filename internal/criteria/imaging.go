package criteria

import (
	"sort"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/fhir/chart"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
)

// imaging finds lumbar studies within n days before D, newest first
// (DECISIONS.md "Imaging"; reference/clinical-criteria.md 1.4): an
// ImagingStudy of one of the modalities with a lumbar body site or a code in
// codes, or a Procedure or DiagnosticReport with a code in codes.
func (x *assessor) imaging(codes *policy.Codes, modalities []string, n int) []Evidence {
	var out []Evidence
	for i := range x.rec.ImagingStudies {
		s := &x.rec.ImagingStudies[i]
		// ImagingStudy: available, or status absent.
		if s.StatusPresent && s.Status != r4.ImagingStudyStatusAvailable {
			continue
		}
		date := datePtr(s.Started)
		if date == nil {
			for _, se := range s.Series {
				if date = datePtr(se.Started); date != nil {
					break
				}
			}
		}
		if !x.inWindow(date, n) || date == nil {
			continue
		}
		if e, ok := x.lumbarStudy(s, codes, modalities); ok {
			e.Source, e.Date = source("ImagingStudy", s.Id), date
			out = append(out, e)
		}
	}
	for _, pr := range x.procs {
		if pr.start == nil || !x.inWindow(pr.start, n) {
			continue
		}
		if cd, ok := codes.MatchConcept(pr.p.Code); ok {
			out = append(out, evidence(pr.source, pr.start, cd))
		}
	}
	for i := range x.rec.DiagnosticReports {
		r := &x.rec.DiagnosticReports[i]
		if !reportCounts(r) {
			continue
		}
		date := first(datePtr(r.EffectiveDateTime), periodStart(r.EffectivePeriod), datePtr(r.Issued))
		if date == nil || !x.inWindow(date, n) {
			continue
		}
		if cd, ok := codes.MatchConcept(&r.Code); ok {
			out = append(out, evidence(source("DiagnosticReport", r.Id), date, cd))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Date.Equal(*out[j].Date) {
			return out[i].Date.After(*out[j].Date)
		}
		return out[i].Source < out[j].Source
	})
	return out
}

// DiagnosticReport: a report that exists (partial, preliminary, final,
// amended, corrected, appended), or status absent like ImagingStudy.
func reportCounts(r *chart.DiagnosticReport) bool {
	if !r.StatusPresent {
		return true
	}
	switch r.Status {
	case r4.DiagnosticReportStatusPartial, r4.DiagnosticReportStatusPreliminary, r4.DiagnosticReportStatusFinal,
		r4.DiagnosticReportStatusAmended, r4.DiagnosticReportStatusCorrected, r4.DiagnosticReportStatusAppended:
		return true
	}
	return false
}

func hasModality(cd *r4.Coding, modalities []string) bool {
	if cd == nil || cd.Code == nil {
		return false
	}
	if cd.System != nil && *cd.System != policy.SystemDICOM {
		return false
	}
	for _, m := range modalities {
		if *cd.Code == m {
			return true
		}
	}
	return false
}

// lumbarStudy: modality in modalities (study or series level) and a lumbar
// series body site (on a series of that modality, or any series when the
// study-level modality matches) or a procedure code in codes.
func (x *assessor) lumbarStudy(s *chart.ImagingStudy, codes *policy.Codes, modalities []string) (Evidence, bool) {
	studyLevel := false
	for i := range s.Modality {
		if hasModality(&s.Modality[i], modalities) {
			studyLevel = true
			break
		}
	}
	anySeries := false
	for i := range s.Series {
		se := &s.Series[i]
		seriesMod := hasModality(&se.Modality, modalities)
		anySeries = anySeries || seriesMod
		if (seriesMod || studyLevel) && x.pol.Imaging.LumbarBodySites.MatchCoding(se.BodySite) {
			mod := str(se.Modality.Code)
			if !seriesMod {
				mod = firstModality(s.Modality, modalities)
			}
			site := str(se.BodySite.Display)
			if site == "" {
				site = str(se.BodySite.Code)
			}
			return Evidence{Display: mod + " " + site, Code: Code{System: str(se.BodySite.System), Code: str(se.BodySite.Code), Display: str(se.BodySite.Display)}}, true
		}
	}
	if !studyLevel && !anySeries {
		return Evidence{}, false
	}
	for i := range s.ProcedureCode {
		if cd, ok := codes.MatchConcept(&s.ProcedureCode[i]); ok {
			return evidence("", nil, cd), true
		}
	}
	return Evidence{}, false
}

func firstModality(cs []r4.Coding, modalities []string) string {
	for i := range cs {
		if hasModality(&cs[i], modalities) {
			return *cs[i].Code
		}
	}
	return ""
}
