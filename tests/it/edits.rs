//! Integration tests of format-preserving edits: one fixture folder per case.
