"""Host projects that adopt the rollup onto a platform the app did not create (issue 11)."""
