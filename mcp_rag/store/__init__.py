"""Everything that speaks SQL: engine, embedded server, migrations, queries."""
