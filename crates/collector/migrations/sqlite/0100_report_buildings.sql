-- callhook report (crates/reports): the imported CQD building file, kept as its text and parsed
-- by callhook-quality when a report runs. Importing again replaces it (CQD keeps one active file).
CREATE TABLE report_building_file (
    name TEXT NOT NULL PRIMARY KEY,
    imported_at TEXT NOT NULL,
    source TEXT NOT NULL,
    content TEXT NOT NULL
);
