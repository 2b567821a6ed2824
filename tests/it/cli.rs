//! The `redress` command as a user runs it.
