-- A CDS client may give an override reason of its own, one the card did not
-- offer (CDS Hooks 2.0.1, Card Attributes, overrideReasons: "A CDS Client MAY
-- augment the override reasons presented to the user with its own reasons").
-- Its display is kept as given, so the report can name it; '' for reasons
-- stored before, and for reasons given without a display.
ALTER TABLE feedback ADD COLUMN override_display TEXT NOT NULL DEFAULT '';
