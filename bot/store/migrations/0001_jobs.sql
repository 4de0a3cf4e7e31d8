-- Reserved for the job engine (issue 2). Replaced by its real schema.
CREATE TABLE IF NOT EXISTS schema_placeholder (id INTEGER PRIMARY KEY);
